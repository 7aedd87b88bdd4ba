import re
import secrets
import string
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import delete, select, text, update

from .cache import PENDING_VISITS
from .metrics import VISITS_COUNTED, exposition
from .models import MAX_URL_LENGTH, Link, db
from .visits import MOVING_VISITS

bp = Blueprint("links", __name__)

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 7
# Characters that no URL may hold: control characters (PostgreSQL cannot even store a NUL) and
# unpaired surrogates (JSON can spell them, UTF-8 cannot encode them).
FORBIDDEN_IN_URL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@bp.get("/")
def index():
    recent = db.session.scalars(select(Link).order_by(Link.id.desc()).limit(10)).all()
    return render_template("index.html", links=recent)


@bp.post("/api/links")
def create_link():
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the JSON parser goes: bad input like any other
        payload = None
    if not isinstance(payload, dict):
        abort(400, "the body must be a JSON object such as {\"url\": \"https://example.org\"}")
    url = validated_url(payload.get("url"))
    link = Link(code=new_code(), url=url, visits=0)
    db.session.add(link)
    db.session.commit()
    body = link.to_dict() | {"short_url": url_for("links.follow", code=link.code, _external=True)}
    location = url_for("links.link_stats", code=link.code, _external=True)
    return jsonify(body), 201, {"Location": location}


@bp.get("/api/links/<code>")
def link_stats(code: str):
    require_code_format(code)
    link = db.session.scalar(select(Link).where(Link.code == code))
    if link is None:
        abort(404, f"no link with code {code!r}")
    # The visits in PostgreSQL, plus those counted but not moved there yet.
    pending = link_cache().pending_visits(code, (PENDING_VISITS, MOVING_VISITS))
    return jsonify(link.to_dict() | {"visits": link.visits + pending})


# --8<-- [start:cache]
@bp.delete("/api/links/<code>")
def delete_link(code: str):
    require_code_format(code)
    deleted = db.session.execute(delete(Link).where(Link.code == code)).rowcount
    db.session.commit()
    if not deleted:
        abort(404, f"no link with code {code!r}")
    # Invalidate on change: the redirect must not outlive the link.
    link_cache().invalidate(code)
    return "", 204


@bp.get("/<code>")
def follow(code: str):
    # Cache-aside: the target from Redis if it is there, else from the database (then cached).
    # With batched counting, the visit is counted in the same Redis round trip as the lookup.
    require_code_format(code)
    cache = link_cache()
    batched = current_app.config["VISIT_COUNTING"] == "batched"
    url, cache_state, counted_in = cache.lookup(code, count_visit=batched)
    if url is None:
        url = db.session.scalar(select(Link.url).where(Link.code == code))
        if url is None:
            abort(404, f"no link with code {code!r}")
        cache.set(code, url)
    if counted_in is None:  # synchronous counting: one UPDATE of the link's row per redirect
        db.session.execute(update(Link).where(Link.code == code).values(visits=Link.visits + 1))
        db.session.commit()
        counted_in = "database"
    VISITS_COUNTED.labels(where=counted_in).inc()
    # What this answer took: the benchmark and the tests check each variant by these.
    return redirect(url, code=302), {"X-Cache": cache_state, "X-Visits": counted_in}
# --8<-- [end:cache]


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. Deliberately does not touch the database."""
    return jsonify(status="ok", version=current_app.config["APP_VERSION"])


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers a query within a short timeout."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not ready", never a 500
        db.session.rollback()
        return jsonify(status="unavailable", database=type(error).__name__), 503
    return jsonify(status="ok", database="ok")


@bp.get("/metrics")
def metrics():
    body, content_type = exposition()
    return Response(body, content_type=content_type)


def link_cache():
    return current_app.extensions["link_cache"]


def validated_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        abort(400, "'url' is required and must be a string")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        abort(400, f"'url' is longer than {MAX_URL_LENGTH} characters")
    if FORBIDDEN_IN_URL.search(url):
        abort(400, "'url' must not contain control characters or unpaired surrogates")
    try:
        parts = urlsplit(url)
    except ValueError:  # for example an unclosed IPv6 bracket, "http://[::1"
        abort(400, "'url' is not a valid URL")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        abort(400, "'url' must be an absolute http:// or https:// URL")
    return url


def require_code_format(code: str) -> None:
    """A code is ASCII letters and digits: anything else cannot exist, so it is a 404 without
    asking Redis or PostgreSQL (and no visit is counted for it)."""
    if not (code.isascii() and code.isalnum()):
        abort(404, f"no link with code {code!r}")


def new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if db.session.scalar(select(Link.id).where(Link.code == code)) is None:
            return code
