"""The running container, checked from inside (testinfra) and over HTTP."""

import pytest
import requests

pytestmark = pytest.mark.docker


def test_python_version(host):
    assert host.run("python --version").stdout.startswith("Python 3.13")


def test_app_files_are_in_the_image(host):
    for path in ("/app/wsgi.py", "/app/app/__init__.py", "/app/app/templates/index.html",
                 "/app/migrations/versions/0001_create_links.py"):
        assert host.file(path).is_file, path


@pytest.mark.parametrize("path", ["/app/.git", "/app/.env", "/app/tests", "/app/secrets",
                                  "/app/app/__pycache__/decoy.cpython-313.pyc",
                                  "/app/.pytest_cache", "/app/.venv"])
def test_dockerignored_files_are_not_in_the_image(host, path):
    # The build context had each of these (conftest plants them); .dockerignore kept them out.
    assert not host.file(path).exists


def listening_ports(host) -> set[int]:
    """TCP ports in LISTEN state, read from /proc (the slim image has neither ss nor netstat)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in host.file(table).content_string.splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_app_listens_on_port_8000(host, base_url):
    assert 8000 in listening_ports(host)


def test_api_round_trip(base_url):
    created = requests.post(f"{base_url}/api/links", json={"url": "https://example.org/x"}, timeout=5)
    assert created.status_code == 201
    code = created.json()["code"]
    followed = requests.get(f"{base_url}/{code}", allow_redirects=False, timeout=5)
    assert followed.status_code == 302
    assert followed.headers["Location"] == "https://example.org/x"
    assert requests.get(f"{base_url}/api/links/{code}", timeout=5).json()["visits"] == 1


def test_bad_input_is_rejected_by_the_running_app(base_url):
    response = requests.post(f"{base_url}/api/links", data="nope", timeout=5)
    assert response.status_code == 400
    assert "message" in response.json()


def test_data_survives_a_new_container_with_the_same_volume(stack, base_url):
    code = requests.post(f"{base_url}/api/links", json={"url": "https://example.org/kept"},
                         timeout=5).json()["code"]
    old_container = stack.container()
    # `down` without --volumes removes the container and network but keeps the named volume.
    stack.compose("down")
    stack.compose("up", "--detach", "--wait")
    assert stack.container() != old_container
    url = stack.wait_until_answering()
    assert requests.get(f"{url}/api/links/{code}", timeout=5).json()["url"] == "https://example.org/kept"
