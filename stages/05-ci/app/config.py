"""Configuration comes only from the environment, and secrets from files (Compose and Swarm
secrets, the `*_FILE` convention of the official images). The app refuses to start with a missing
or default secret."""

import os
from pathlib import Path

from sqlalchemy.engine import make_url

# Values that people leave in by mistake; a real secret is long and random.
KNOWN_DEFAULTS = {"changeme", "change-me", "secret", "dev", "development", "password", "default",
                  "please-change-me", "notsecret"}
MIN_SECRET_LENGTH = 32
# Flask rejects bodies over this with 413; nginx's client_max_body_size matches it.
MAX_CONTENT_LENGTH = 16 * 1024


def config_from_env() -> dict:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise SystemExit("configuration error: DATABASE_URL is not set")
    password = read_secret("DATABASE_PASSWORD")
    if password:
        database_url = make_url(database_url).set(password=password).render_as_string(hide_password=False)
    redis_url = os.environ.get("REDIS_URL", "")
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "SECRET_KEY": required_secret("SECRET_KEY"),
        "REDIS_URL": redis_url,
        # 0 switches the lookup cache off (the benchmark compares both).
        "CACHE_TTL_SECONDS": int(os.environ.get("CACHE_TTL_SECONDS", "300")),
        # "batched": visits counted in Redis and moved into PostgreSQL by the `visits` service;
        # "sync": one UPDATE per redirect (the earlier stages' way, and the only one without Redis).
        "VISIT_COUNTING": visit_counting(redis_url),
        "MAX_CONTENT_LENGTH": MAX_CONTENT_LENGTH,
        # Baked into the image at build time (Dockerfile ARG); tells which release answered.
        "APP_VERSION": os.environ.get("APP_VERSION", "dev"),
    }


def read_secret(name: str) -> str | None:
    """NAME from the file that NAME_FILE points to, or else from NAME itself."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            raise SystemExit(f"configuration error: cannot read {name}_FILE ({error})") from None
    return os.environ.get(name)


def required_secret(name: str) -> str:
    value = read_secret(name)
    if not value:
        raise SystemExit(f"configuration error: {name} is not set; give it as a secrets file "
                         f"through {name}_FILE")
    if value.lower() in KNOWN_DEFAULTS or len(value) < MIN_SECRET_LENGTH:
        raise SystemExit(f"configuration error: {name} is a default value or shorter than "
                         f"{MIN_SECRET_LENGTH} characters; refusing to start")
    return value


def visit_counting(redis_url: str) -> str:
    mode = os.environ.get("VISIT_COUNTING", "batched")
    if mode not in ("batched", "sync"):
        raise SystemExit(f"configuration error: VISIT_COUNTING is {mode!r}; use 'batched' or 'sync'")
    return mode if redis_url else "sync"


def engine_options(database_url: str) -> dict:
    """Fail fast instead of hanging when the database does not answer, and no round trip that
    a request does not need."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 2}}
    return {
        # Each request runs one statement, so each statement commits on its own: no BEGIN and no
        # ROLLBACK round trips around a read. What needs a transaction asks for one (visits.py).
        "isolation_level": "AUTOCOMMIT",
        # One connection per gunicorn thread: a worker never waits for a connection, and the
        # database sees workers x threads connections, not more.
        "pool_size": int(os.environ.get("GUNICORN_THREADS", "2")),
        "max_overflow": 0,
        # No `pool_pre_ping`, which costs a SELECT 1 per request: only a connection idle for a
        # while is checked before use (pool.py).
        "connect_args": {"connect_timeout": 2},
    }
