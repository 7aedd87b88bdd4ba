"""Unit tests of the app itself, without Docker."""

import json
import logging

import pytest
from conftest import UNIT_TEST_SECRET
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
    ({"json": {"url": "http://[::1/unclosed"}}, 400),
    ({"json": {"url": "https://example.org/a\x00b"}}, 400),
    ({"data": '{"url": "https://example.org/\\ud800"}', "content_type": "application/json"}, 400),
    ({"data": "[" * 10_000, "content_type": "application/json"}, 400),
], ids=["not-json", "malformed-json", "not-an-object", "missing-url", "url-not-string",
        "ftp-scheme", "javascript-scheme", "too-long", "unparsable-url", "control-character",
        "lone-surrogate", "nested-too-deep"])
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
    ("get", "/%00", 404),
    ("delete", "/api/links/%E2%82%AC", 404),
])
def test_unknown_code_and_wrong_method_are_json_4xx(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json


def test_health_endpoints(client):
    assert client.get("/healthz").get_json() == {"status": "ok", "version": "dev"}
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    monkeypatch.setenv("SECRET_KEY", UNIT_TEST_SECRET)
    from app import create_app

    response = create_app().test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_missing_database_url_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from app import create_app

    with pytest.raises(SystemExit, match="DATABASE_URL is not set"):
        create_app()


# --- stage 04: secrets, cache, proxy, limits, metrics, logs ---------------------------------

@pytest.mark.parametrize("value", ["", "changeme", "secret", "short-but-not-default"])
def test_a_missing_default_or_short_secret_key_is_refused(monkeypatch, tmp_path, value):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("SECRET_KEY", value)
    from app import create_app

    with pytest.raises(SystemExit, match="SECRET_KEY"):
        create_app()


def test_secrets_are_read_from_files(monkeypatch, tmp_path):
    (tmp_path / "key").write_text(UNIT_TEST_SECRET + "\n")
    (tmp_path / "password").write_text("s3cret-from-file\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://links@db:5432/links")
    from app.config import config_from_env

    config = config_from_env()
    assert config["SECRET_KEY"] == UNIT_TEST_SECRET
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://links:s3cret-from-file@db:5432/links"


def test_created_link_has_a_location_that_follows_x_forwarded_proto(client):
    response = client.post("/api/links", json={"url": "https://example.org"},
                           headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "links.example"})
    assert response.status_code == 201
    assert response.headers["Location"].startswith("https://links.example/api/links/")


def test_a_body_over_the_limit_is_413(client, app_under_test):
    response = client.post("/api/links", data="x" * (17 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.is_json
    assert count_links(app_under_test) == 0


def test_delete_removes_a_link(client):
    code = client.post("/api/links", json={"url": "https://example.org/gone"}).get_json()["code"]
    assert client.delete(f"/api/links/{code}").status_code == 204
    assert client.get(f"/{code}").status_code == 404
    assert client.delete(f"/api/links/{code}").status_code == 404


def test_redirects_work_when_redis_is_unreachable(app_under_test):
    from app.cache import LinkCache

    # A port nothing listens on: every cache call fails fast and the database answers.
    app_under_test.extensions["link_cache"] = LinkCache("redis://127.0.0.1:9/0")
    client = app_under_test.test_client()
    code = client.post("/api/links", json={"url": "https://example.org/no-redis"}).get_json()["code"]
    assert client.get(f"/{code}").status_code == 302
    assert client.get(f"/api/links/{code}").get_json()["visits"] == 1


def test_metrics_endpoint_counts_requests(client):
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{endpoint="/healthz",method="GET",status="200"}' in body
    sample = 'visits_counted_total{where="database"} '

    def counted() -> float:
        lines = client.get("/metrics").get_data(as_text=True).splitlines()
        return next((float(line.removeprefix(sample)) for line in lines if line.startswith(sample)), 0.0)

    before = counted()
    code = client.post("/api/links", json={"url": "https://example.org/counted"}).get_json()["code"]
    assert client.get(f"/{code}").headers["X-Visits"] == "database"  # no Redis configured here
    assert counted() == before + 1


def test_each_request_is_one_json_log_line(client, caplog):
    from app.observability import JsonFormatter

    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get("/healthz", headers={"X-Request-ID": "abc123"})
    record = next(r for r in caplog.records if getattr(r, "request_id", None) == "abc123")
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["path"] == "/healthz"
    assert entry["status"] == 200
    assert entry["method"] == "GET"


def test_every_answer_names_the_release(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("SECRET_KEY", UNIT_TEST_SECRET)
    monkeypatch.setenv("APP_VERSION", "1.2.3")
    from app import create_app

    client = create_app({"TESTING": True}).test_client()
    assert client.get("/healthz").get_json()["version"] == "1.2.3"
    assert client.get("/no-such-code").headers["X-App-Version"] == "1.2.3"
