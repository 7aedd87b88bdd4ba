"""A connection that sat idle in the pool may have died meanwhile (a database restart): it is
checked with one SELECT 1 before use, and replaced if dead. A connection in steady use is not
checked at all, unlike SQLAlchemy's `pool_pre_ping`, which costs a round trip per request."""

import time

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

IDLE_SECONDS = 1.0


def check_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def remember_when(dbapi_connection, record):
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, proxy):
        if time.monotonic() - record.info.get("checked_in", time.monotonic()) < IDLE_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as error:
            # The pool discards this connection and checks out a new one.
            raise exc.DisconnectionError(str(error)) from error
