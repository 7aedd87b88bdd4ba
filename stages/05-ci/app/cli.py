"""`flask wait-for-db`: wait, bounded, until the database accepts a query.
`flask move-visits`: the `visits` service, moving counted visits into PostgreSQL (visits.py)."""

import time

import click
from flask import Flask, current_app
from sqlalchemy import text

from .models import db
from .visits import run_mover


def register_cli(app: Flask) -> None:
    @app.cli.command("wait-for-db")
    @click.option("--timeout", default=60, show_default=True, help="seconds to wait in all")
    def wait_for_db(timeout: int) -> None:
        """Exit 0 as soon as the database answers; one clear line per failed attempt; exit 1
        after TIMEOUT seconds, so a wrong password shows in the logs instead of a crash loop."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                db.session.execute(text("SELECT 1"))
                return
            except Exception as error:  # any failure: report it in one line and retry
                db.session.rollback()
                reason = str(getattr(error, "orig", error)).strip().splitlines()[-1]
                if time.monotonic() >= deadline:
                    raise click.ClickException(
                        f"database unavailable after {timeout} s: {reason}") from None
                click.echo(f"wait-for-db: database unavailable ({reason}); retrying", err=True)
                time.sleep(2)

    @app.cli.command("move-visits")
    @click.option("--interval", default=1.0, show_default=True,
                  help="seconds between batches: also the most visits a Redis crash can lose")
    @click.option("--heartbeat", default="/tmp/visits-heartbeat", show_default=True,
                  help="file touched after every batch, for the health check")
    def move_visits(interval: float, heartbeat: str) -> None:
        """Move the visits counted in Redis into PostgreSQL, one transaction per batch."""
        cache = current_app.extensions["link_cache"]
        if cache.client is None:
            raise click.ClickException("REDIS_URL is not set: there are no visits to move")
        run_mover(cache.client, db.engine, interval, heartbeat)
