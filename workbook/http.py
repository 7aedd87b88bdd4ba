"""HTTP to the workbook's own stacks, and only there: every request goes to 127.0.0.1 (a port
published there), never through a proxy the environment may name, and a redirect is an answer to
look at, not one to follow. The tooling, the notebooks and the tests all send requests through
`fetch`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

# What a request that got no answer raises: refused, reset, timed out, no route.
NO_ANSWER = (urllib.error.URLError, OSError)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def check_loopback(url: str) -> None:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the workbook only sends traffic to 127.0.0.1, not to {url}")


def fetch(url: str, payload: dict | None = None, timeout: float = 10) -> tuple[int, dict, str]:
    """(status, headers, body) of a GET, or of a JSON POST when `payload` is given. A request that
    gets no answer raises one of NO_ANSWER."""
    check_loopback(url)
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()
