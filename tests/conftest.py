"""Root test configuration: report which official images are offline stand-ins."""

from workbook import images
from workbook.docker import engine_answers


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
