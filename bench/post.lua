-- wrk request script: every request creates a short link (POST /api/links with a JSON body).
-- The benchmark appends bench/report.lua to it, for its JSON line of figures.
wrk.method = "POST"
wrk.body = '{"url": "https://example.org/bench-write"}'
wrk.headers["Content-Type"] = "application/json"
