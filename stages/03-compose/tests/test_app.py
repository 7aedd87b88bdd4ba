"""Unit tests of the app itself, without Docker."""

import pytest
from sqlalchemy import func, select

from app.models import Link, db


def count_links(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Link))


def test_create_follow_and_count(client):
    created = client.post("/api/links", json={"url": "https://example.org/a"})
    assert created.status_code == 201
    code = created.get_json()["code"]
    assert len(code) == 7

    followed = client.get(f"/{code}")
    assert followed.status_code == 302
    assert followed.headers["Location"] == "https://example.org/a"

    stats = client.get(f"/api/links/{code}").get_json()
    assert stats["visits"] == 1
    assert stats["url"] == "https://example.org/a"


def test_index_lists_recent_links(client):
    client.post("/api/links", json={"url": "https://example.org/listed"})
    page = client.get("/")
    assert page.status_code == 200
    assert "https://example.org/listed" in page.get_data(as_text=True)
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": "not json", "content_type": "text/plain"}, 400),
    ({"data": "{broken", "content_type": "application/json"}, 400),
    ({"json": ["https://example.org"]}, 400),
    ({"json": {}}, 400),
    ({"json": {"url": 42}}, 400),
    ({"json": {"url": "ftp://example.org/file"}}, 400),
    ({"json": {"url": "javascript:alert(1)"}}, 400),
    ({"json": {"url": "https://example.org/" + "a" * 2048}}, 400),
], ids=["not-json", "malformed-json", "not-an-object", "missing-url", "url-not-string",
        "ftp-scheme", "javascript-scheme", "too-long"])
def test_bad_input_is_a_json_4xx_and_stores_nothing(client, app_under_test, kwargs, status):
    response = client.post("/api/links", **kwargs)
    assert response.status_code == status
    assert response.is_json
    assert response.get_json()["message"]
    assert count_links(app_under_test) == 0


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/nosuchcode", 404),
    ("get", "/api/links/nosuchcode", 404),
    ("delete", "/api/links", 405),
    ("put", "/healthz", 405),
])
def test_unknown_code_and_wrong_method_are_json_4xx(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json


def test_health_endpoints(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    from app import create_app

    response = create_app().test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_missing_database_url_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from app import create_app

    with pytest.raises(RuntimeError, match="DATABASE_URL is not set"):
        create_app()
