"""Configuration comes only from environment variables, so one image runs everywhere."""

import logging
import os
import secrets


def config_from_env() -> dict:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise RuntimeError("DATABASE_URL is not set: give the app a database, "
                           "for example DATABASE_URL=sqlite:////data/links.db")
    secret_key = os.environ.get("SECRET_KEY")
    if not secret_key:
        # No sessions rely on it yet; a random key per process keeps nothing secret in the image.
        logging.getLogger(__name__).warning("SECRET_KEY is not set: using a random key")
        secret_key = secrets.token_hex(32)
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "SECRET_KEY": secret_key,
    }


def engine_options(database_url: str) -> dict:
    """Fail fast instead of hanging when the database does not answer."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 2}}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}}
