"""Bad input, beyond the examples: Hypothesis sends random requests through nginx to the running
stack, and nginx shields the app from bodies over the limit and from slow clients.

The properties hold for every request, whoever answers it (nginx or the app): never a 5xx; every
error (status >= 400) is JSON, {"error": ..., "message": ...}; and a request answered with a 4xx
stores no link (the links table grows by exactly the number of 201s). Bounded: a fixed number of
examples per test, derandomized (the same examples on every run), nothing written to disk, and
traffic only to the stack's own port on 127.0.0.1."""

import json
import socket
import string
import threading
import time
import uuid
from urllib.parse import quote, urlsplit

import pytest
import requests
from conftest import wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.docker

BOUNDED = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# nginx.conf's client_header_timeout, and gunicorn's workers x threads in compose.yaml (3 x 2).
CLIENT_HEADER_TIMEOUT = 10
APP_THREADS = 3 * 2


def link_count(stack) -> int:
    sql = "SELECT count(*) FROM links"
    return int(stack.psql(sql))


def send(base_url: str, method: str, path: str, **kwargs) -> requests.Response:
    assert base_url.startswith("http://127.0.0.1:"), base_url
    # Never a redirect followed: a created link points outside, and the tests stay on 127.0.0.1.
    return requests.request(method, base_url + path, allow_redirects=False, timeout=10, **kwargs)


def describe(response: requests.Response) -> str:
    return (f"{response.request.method} {response.request.url} -> {response.status_code} "
            f"{response.headers.get('Content-Type')!r} {response.text[:300]!r}")


def check(response: requests.Response, created: list[str]) -> None:
    """The properties every answer has."""
    assert response.status_code < 500, describe(response)
    if response.status_code == 201:
        created.append(response.json()["code"])
    if response.status_code >= 400:
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        assert content_type == "application/json", describe(response)
        body = response.json()
        assert isinstance(body, dict), describe(response)
        assert {"error", "message"} <= body.keys(), describe(response)


# --- strategies -----------------------------------------------------------------------------

# Any character, and now and then an unpaired surrogate (JSON can spell one: "\ud800").
any_char = st.characters() | st.integers(0xD800, 0xDFFF).map(chr)
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(any_char, max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                      max_size=4),
    max_leaves=10)
# Strings that look more or less like the URL the API asks for.
url_like = st.builds(str.__add__,
                     st.sampled_from(["http://", "https://", "HTTP://", "http://[", "ftp://",
                                      "javascript:", "//", " http://", ""]),
                     st.text(any_char, max_size=40))
# And URLs that the API takes, so that some requests do create a link.
good_urls = st.builds("https://{}.org/{}".format,
                      st.text(st.sampled_from(string.ascii_lowercase), min_size=1), st.text(max_size=20))
payloads = json_values | st.fixed_dictionaries({"url": good_urls | url_like | json_values},
                                               optional={"other": json_values})

# Header values that `requests` sends: Latin-1 without control characters, no leading space.
header_chars = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.characters(min_codepoint=0xA0,
                                                                                     max_codepoint=0xFF)
header_values = st.text(header_chars, max_size=40).map(str.strip)
content_types = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "application/json; charset=utf-16",
    "application/json; charset=latin-1", "application/json; charset=nonsense", "application/problem+json",
    "text/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/octet-stream", "",
]) | header_values

TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# Headers that frame the request or that the tests set themselves: random values there would test
# the HTTP client, not the stack.
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te",
           "trailer", "keep-alive", "proxy-connection", "content-type", "content-encoding"}
header_names = (st.sampled_from(["Accept", "Accept-Language", "Accept-Encoding", "Cookie", "Referer",
                                 "User-Agent", "Origin", "Authorization", "X-Forwarded-For",
                                 "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID",
                                 "If-None-Match", "If-Modified-Since", "Cache-Control", "Forwarded"])
                | st.text(st.sampled_from(TCHAR), min_size=1, max_size=20)
                .filter(lambda name: name.lower() not in FRAMING))
headers = st.dictionaries(header_names, header_values, max_size=4)

UPPER = set(string.ascii_uppercase + "_-")
methods = (st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
           # Unknown methods that are valid tokens: the app answers 404 or 405.
           | st.text(st.sampled_from(string.ascii_uppercase), min_size=3, max_size=12)
           .filter(lambda method: method not in ("HEAD", "CONNECT"))
           # Not methods at all (requests upper-cases them; nginx refuses anything but A-Z, _ and -).
           | st.text(st.sampled_from(TCHAR), min_size=1, max_size=12)
           .filter(lambda method: not set(method.upper()) <= UPPER))
# Paths: where the app and nginx route, then anything, URL-safe or not (percent-encoded).
path_prefixes = st.sampled_from(["", "api/links", "api/links/", "api/", "static/", "metrics", "healthz",
                                 "nginx-health", "readyz/"])
path_chars = st.sampled_from(string.ascii_letters + string.digits + "-._~/%?#[]@!$&'()*+,;= \"<>\\^`{|}")
paths = st.builds(lambda prefix, rest: "/" + quote(prefix + rest, safe="/!$&'()*+,;=:@"),
                  path_prefixes, st.text(path_chars | st.characters(), max_size=30))


# --- properties -----------------------------------------------------------------------------

def test_random_json_values_posted_as_links(stack, base_url):
    created: list[str] = []

    @BOUNDED
    @given(value=payloads, content_type=st.just("application/json") | content_types,
           encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]), ascii_only=st.booleans())
    def post(value, content_type, encoding, ascii_only):
        body = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, errors="surrogatepass")
        check(send(base_url, "POST", "/api/links", data=body, headers={"Content-Type": content_type}),
              created)

    before = link_count(stack)
    post()
    assert link_count(stack) - before == len(created), "a request answered with a 4xx stored a link"


def test_random_bodies_with_random_content_types(stack, base_url):
    created: list[str] = []

    @BOUNDED
    @given(body=st.binary(max_size=512) | st.text(any_char, max_size=200).map(
               lambda text: text.encode("utf-8", errors="surrogatepass")),
           content_type=content_types, method=st.sampled_from(["POST", "PUT", "PATCH"]))
    def post(body, content_type, method):
        check(send(base_url, method, "/api/links", data=body, headers={"Content-Type": content_type}),
              created)

    before = link_count(stack)
    post()
    assert link_count(stack) - before == len(created), "a request answered with a 4xx stored a link"


def test_random_methods_paths_and_headers(stack, base_url):
    created: list[str] = []

    @BOUNDED
    @given(method=methods, path=paths, extra_headers=headers)
    def request(method, path, extra_headers):
        check(send(base_url, method, path, headers=extra_headers), created)

    before = link_count(stack)
    request()
    assert link_count(stack) - before == len(created), "a request answered with a 4xx stored a link"


# --- nginx as the shield --------------------------------------------------------------------

def recent_logs(stack, service: str) -> str:
    # The last minutes only: the whole session's log is long after the load tests.
    return stack.compose("logs", "--since", "5m", service).stdout


def test_a_body_over_the_limit_gets_a_json_413_from_nginx_and_never_reaches_gunicorn(stack, base_url):
    marker = uuid.uuid4().hex
    response = send(base_url, "POST", f"/api/links?probe={marker}", data=b"x" * (20 * 1024),
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "Request Entity Too Large"
    request_id = response.headers["X-Request-ID"]

    # (nginx's error log names the request too: the access log's line is the one with its id.)
    nginx_line = wait_for(lambda: next((line for line in recent_logs(stack, "nginx").splitlines()
                                        if marker in line and "rid=" in line), None), 30,
                          "nginx's access log line")
    assert f"rid={request_id}" in nginx_line
    assert " 413 " in nginx_line
    # A request after it that does reach the app: once it is in the app's log, the 413 would be too.
    after = uuid.uuid4().hex
    assert send(base_url, "GET", f"/after-the-413/{after}").status_code == 404
    wait_for(lambda: after in recent_logs(stack, "web"), 30, "the next request in the app's log")
    web_logs = recent_logs(stack, "web")
    # Neither in gunicorn's access log (the query string) nor in the app's (nginx's request id).
    assert marker not in web_logs
    assert request_id not in web_logs


SLOW_CLIENTS = APP_THREADS * 2   # every app thread's worth of connections, twice over
# A request whose headers never end: one byte a second for longer than any timeout here.
SLOW_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 100


def is_closed(sock: socket.socket) -> bool:
    """Whether the peer closed the connection, looked at without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:  # open, nothing to read
        return False
    except OSError:          # reset
        return True


def wait_until_closed(sock: socket.socket, deadline: float) -> bool:
    """Read until the peer closes (b"" or an error), or until the deadline: True if it closed."""
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            return False
        except OSError:  # reset by nginx
            return True
    return False


def test_slow_clients_are_cut_off_by_nginx_while_the_app_keeps_answering(base_url):
    port = urlsplit(base_url).port
    code = send(base_url, "POST", "/api/links", json={"url": "https://example.org/slow"}).json()["code"]
    sockets: list[tuple[socket.socket, float]] = []
    stop = threading.Event()

    def trickle():
        sent = 0
        while not stop.is_set() and sent < len(SLOW_REQUEST):
            for sock, _ in sockets:
                try:
                    sock.send(SLOW_REQUEST[sent:sent + 1])
                except OSError:  # closed by nginx: the test looks at that below
                    pass
            sent += 1
            stop.wait(1.0)

    trickler = threading.Thread(target=trickle, daemon=True)
    try:
        for _ in range(SLOW_CLIENTS):
            sockets.append((socket.create_connection(("127.0.0.1", port), timeout=5), time.monotonic()))
        trickler.start()

        # While they hang, normal requests are answered at once.
        for n in range(50):
            path, expected = ("/healthz", 200) if n % 2 == 0 else (f"/{code}", 302)
            started = time.monotonic()
            response = send(base_url, "GET", path)
            took = time.monotonic() - started
            assert response.status_code == expected, describe(response)
            assert took < 1.0, f"GET {path} took {took:.2f} s while slow clients were connected"
        assert not any(is_closed(sock) for sock, _ in sockets), "the slow clients were still sending"

        # Then nginx closes each of them after client_header_timeout.
        for sock, connected in sockets:
            assert wait_until_closed(sock, connected + CLIENT_HEADER_TIMEOUT + 5), \
                f"nginx did not close a slow client within {CLIENT_HEADER_TIMEOUT + 5} s"
            lasted = time.monotonic() - connected
            assert lasted >= CLIENT_HEADER_TIMEOUT - 1, f"closed after {lasted:.1f} s, before the timeout"
    finally:
        stop.set()
        if trickler.is_alive():
            trickler.join(timeout=5)
        for sock, _ in sockets:
            sock.close()
