"""A second Flask app, shaped unlike the workbook's own, to prove the contract of "Use a stage
for your own app": a module-level `app` (no factory), plain psycopg (no SQLAlchemy, no
Flask-Migrate: it creates its one table itself), its own static folder (assets/)."""

import os

import psycopg
from flask import Flask, abort, jsonify, request


def setting(name: str) -> str:
    """NAME from the file NAME_FILE names (a Compose or Swarm secret), or else NAME itself."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path) as file:
            return file.read().strip()
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"configuration error: set {name} or {name}_FILE")
    return value


app = Flask(__name__, static_folder="assets", static_url_path="/assets")
app.config["SECRET_KEY"] = setting("SECRET_KEY")
# The stage's DATABASE_URL names SQLAlchemy's driver; psycopg takes the plain URL.
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
PASSWORD = setting("DATABASE_PASSWORD")


def connect() -> psycopg.Connection:
    return psycopg.connect(DATABASE_URL, password=PASSWORD, connect_timeout=2)


@app.get("/healthz")
def healthz():
    """Liveness: the process answers (no database asked)."""
    return {"status": "ok"}


@app.get("/readyz")
def readyz():
    """Readiness: the database answers."""
    try:
        with connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return {"status": "unavailable"}, 503
    return {"status": "ready"}


@app.post("/notes")
def add_note():
    text = (request.get_json(silent=True) or {}).get("text")
    if not isinstance(text, str) or not text:
        return {"error": "Bad Request", "message": "send {\"text\": \"...\"}"}, 400
    with connect() as conn:
        # No migrations: the one table is made here, the first time it is needed.
        conn.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
        note_id = conn.execute("INSERT INTO notes (text) VALUES (%s) RETURNING id", (text,)).fetchone()[0]
    return jsonify(id=note_id, text=text), 201


@app.get("/notes/<int:note_id>")
def get_note(note_id: int):
    with connect() as conn:
        row = conn.execute("SELECT text FROM notes WHERE id = %s", (note_id,)).fetchone()
    if row is None:
        abort(404)
    return {"id": note_id, "text": row[0]}
