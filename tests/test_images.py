"""workbook/images.py: a real official image is never replaced, stand-ins say what they replace, and
every official image has its recipe. (The images' behaviour: test_official_images.py.)"""

import io
import json
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from workbook import images
from workbook.docker import docker


@pytest.mark.docker
def test_a_real_official_image_is_never_replaced(cleanup):
    """An image without the offline label counts as official: ensure() leaves it alone."""
    ref = f"wbtest-official:{uuid.uuid4().hex[:8]}"
    empty_tar = io.BytesIO()
    with tarfile.open(fileobj=empty_tar, mode="w"):
        pass
    subprocess.run(["docker", "import", "-", ref], input=empty_tar.getvalue(), check=True,
                   capture_output=True)
    try:
        image = images.Official(ref, "python")
        assert images.status(image) == "official"
        assert images.ensure(image, log=pytest.fail) == "official"
    finally:
        docker("rmi", ref, check=False)


@pytest.mark.docker
def test_stand_ins_carry_the_offline_labels():
    standins = [image for image in images.OFFICIAL_IMAGES if images.status(image) == "stand-in"]
    if not standins:
        pytest.skip("every official image here is the real one: no stand-in to check")
    for image in standins:
        labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}",
                                   image.ref).stdout)
        assert labels["workbook.replaces"] == image.ref
        assert labels["workbook.offline"] == "true"


def test_image_recipes_exist_for_every_official_image():
    for image in images.OFFICIAL_IMAGES:
        assert image.directory.is_dir()
        assert (image.directory / "Dockerfile").is_file() or image.ref == images.BASE
    assert Path(images.IMAGES_DIR).is_dir()
