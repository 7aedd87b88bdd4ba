"""Root test configuration: report which official images are offline stand-ins."""

from workbook import images
from workbook.docker import docker, engine_answers

# Volumes that existed before the suite ran; the last test checks that no other is left over
# (anonymous volumes carry no label that would tie them to the suite).
VOLUMES_AT_START: set[str] = set()


def pytest_sessionstart(session):
    if engine_answers():
        VOLUMES_AT_START.update(docker("volume", "ls", "--quiet").stdout.split())


def pytest_report_header(config):
    if not engine_answers():
        return ["docker: no engine answers (run 'make engine')"]
    states = {image.ref: images.status(image) for image in images.OFFICIAL_IMAGES}
    standins = [ref for ref, state in states.items() if "stand-in" in state]
    real = [ref for ref, state in states.items() if state == "official"]
    lines = []
    if standins:
        lines.append("offline stand-ins (built from Debian packages): " + ", ".join(standins))
    if real:
        lines.append("official images: " + ", ".join(real))
    return lines
