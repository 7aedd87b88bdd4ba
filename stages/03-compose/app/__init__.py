"""The link shortener: a Flask application factory."""

from flask import Flask
from flask_migrate import Migrate

from .cli import register_cli
from .config import config_from_env
from .errors import register_error_handlers
from .models import db

migrate = Migrate()


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config_from_env())
    app.config.update(overrides or {})
    db.init_app(app)
    migrate.init_app(app, db)
    register_error_handlers(app)
    register_cli(app)

    from .views import bp
    app.register_blueprint(bp)
    return app
