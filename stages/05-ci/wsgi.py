"""The WSGI entry point: `flask --app wsgi` and gunicorn's `wsgi:app` both load this."""

from app import create_app

app = create_app()
