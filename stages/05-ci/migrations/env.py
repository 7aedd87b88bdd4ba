"""Alembic environment for Flask-Migrate (Flask-SQLAlchemy 3): the database URL and the models'
metadata come from the running Flask app, so migrations use the same DATABASE_URL as the app."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import text

config = context.config
# The app configures logging itself (JSON lines on stdout); alembic.ini's only when it has not.
if not logging.getLogger().handlers:
    fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")
# Any fixed number: the key of the PostgreSQL advisory lock that serialises migrations.
MIGRATION_LOCK_KEY = 7_243_001

target_db = current_app.extensions["migrate"].db
engine = target_db.engine
config.set_main_option("sqlalchemy.url",
                       engine.url.render_as_string(hide_password=False).replace("%", "%%"))


def run_migrations_offline():
    """Emit SQL instead of running it (`flask db upgrade --sql`)."""
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def skip_empty_autogenerate(context, revision, directives):
        # `flask db migrate` with no model change writes no empty revision.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    conf_args.setdefault("process_revision_directives", skip_empty_autogenerate)

    # --8<-- [start:lock]
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # The app's engine autocommits each statement (app/config.py). Migrations need one real
            # transaction: without it the transaction-scoped lock below is released at once, and
            # replicas starting together migrate side by side.
            connection.execution_options(isolation_level="READ COMMITTED")
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several replicas may start at once: the first takes the lock and migrates, the
                # others wait here, then find the schema at head and do nothing. The lock is
                # released when this transaction commits.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()
    # --8<-- [end:lock]


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
