"""Every error is a JSON body with the right status: bad input is a 4xx, never a 500."""

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .metrics import DATABASE_ERRORS

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.name, message=error.description), error.code

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        DATABASE_ERRORS.inc()
        log.error("database unavailable: %s", error.orig)
        return jsonify(error="Service Unavailable", message="the database is unavailable"), 503
