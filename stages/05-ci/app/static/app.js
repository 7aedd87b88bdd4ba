// Shorten a URL through the JSON API and show the short link without reloading the page.
document.getElementById("shorten").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = document.getElementById("result");
  const url = new FormData(event.target).get("url");
  const response = await fetch("/api/links", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ url }),
  });
  const body = await response.json();
  result.textContent = response.ok ? `Short link: ${body.short_url}` : `Error: ${body.message}`;
});
