"""The link shortener: a Flask application factory."""

import os

from flask import Flask
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

from .cache import LinkCache
from .cli import register_cli
from .config import config_from_env
from .errors import register_error_handlers
from .models import db
from .observability import configure_logging, register_request_hooks
from .pool import check_idle_connections

migrate = Migrate()


def create_app(overrides: dict | None = None) -> Flask:
    configure_logging()
    app = Flask(__name__)
    app.config.update(config_from_env())
    app.config.update(overrides or {})
    # Exactly one proxy (nginx) stands in front: trust one hop of X-Forwarded-For/-Proto/-Host.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    db.init_app(app)
    migrate.init_app(app, db)
    with app.app_context():
        check_idle_connections(db.engine)
    app.extensions["link_cache"] = LinkCache(app.config["REDIS_URL"], app.config["CACHE_TTL_SECONDS"])
    # gunicorn loads the app once and forks its workers (preload_app): no connection opened
    # before the fork may be shared by two processes, so each child starts with empty pools.
    os.register_at_fork(after_in_child=lambda: after_fork(app))
    register_error_handlers(app)
    register_request_hooks(app)
    register_cli(app)

    from .views import bp
    app.register_blueprint(bp)

    @app.after_request
    def add_version_header(response):
        # Every answer names the release that gave it: a rolling update is visible from outside.
        response.headers["X-App-Version"] = app.config["APP_VERSION"]
        return response

    return app


def after_fork(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose(close=False)  # forget the parent's connections without closing them
    app.extensions["link_cache"].after_fork()
