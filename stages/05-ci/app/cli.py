"""`flask wait-for-db`: wait, bounded, until the database accepts a query."""

import time

import click
from flask import Flask
from sqlalchemy import text

from .models import db


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
