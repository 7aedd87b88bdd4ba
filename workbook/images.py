"""Offline stand-ins for the official images the stages use.

No registry can be reached on some machines (this project's CI among them). For each official
image that is neither present locally nor pullable, build a local equivalent under the same
reference from Debian's package mirror: debian:trixie-slim by debootstrap, the others from the
Dockerfiles in images/. A real official image is never overwritten: only images that carry the
label workbook.offline=true are ever rebuilt, and only when their recipe changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import IMAGES_DIR
from .docker import build, docker, image_exists, image_labels
from .errors import WorkbookError, tail

OFFLINE_LABEL = "workbook.offline"
REPLACES_LABEL = "workbook.replaces"
RECIPE_LABEL = "workbook.recipe"
BASE = "debian:trixie-slim"
# The Python base image of every stage's Dockerfile.
PYTHON = "python:3.13-slim"
HOST_EXTRA_CA = Path("/usr/local/share/ca-certificates")


@dataclass(frozen=True)
class Official:
    ref: str
    recipe: str  # folder under images/

    @property
    def directory(self) -> Path:
        return IMAGES_DIR / self.recipe


# Ordered: the base first, because every other stand-in is built on it.
OFFICIAL_IMAGES = (
    Official(BASE, "debian"),
    Official(PYTHON, "python"),
    Official("postgres:17", "postgres"),
    Official("redis:8", "redis"),
    Official("nginx:stable", "nginx"),
    Official("registry:2", "registry"),
    Official("prom/prometheus:v2.53.3", "prometheus"),
    Official("docker:26-dind", "docker"),
)


def by_ref(ref: str) -> Official:
    for image in OFFICIAL_IMAGES:
        if image.ref == ref:
            return image
    raise WorkbookError(f"{ref} is not one of the workbook's official images")


def recipe_hash(image: Official) -> str:
    """A digest of the recipe folder and the host CA certificates that go into the image."""
    digest = hashlib.sha256()
    if image.ref != BASE:
        # A stand-in built on an older base is stale too.
        digest.update(recipe_hash(by_ref(BASE)).encode())
    for path in sorted(image.directory.rglob("*")) + sorted(_extra_ca_files()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _extra_ca_files() -> list[Path]:
    return sorted(HOST_EXTRA_CA.glob("*.crt")) if HOST_EXTRA_CA.is_dir() else []


def status(image: Official) -> str:
    """'official' (a real image is present), 'stand-in', 'stale stand-in', or 'missing'."""
    if not image_exists(image.ref):
        return "missing"
    labels = image_labels(image.ref)
    # Labels are inherited: an image built FROM a stand-in carries offline=true too, but only the
    # stand-in itself says that it replaces this very reference.
    if labels.get(OFFLINE_LABEL) != "true" or labels.get(REPLACES_LABEL) != image.ref:
        return "official"
    return "stand-in" if labels.get(RECIPE_LABEL) == recipe_hash(image) else "stale stand-in"


def try_pull(ref: str) -> bool:
    """Pull the official image if a registry answers; False (quietly) when none can be reached."""
    return docker("pull", "--quiet", ref, check=False, timeout=300).returncode == 0


def ensure(image: Official, log=print) -> str:
    """Make `image.ref` usable; return what was done. Never replaces a real official image."""
    state = status(image)
    if state in ("official", "stand-in"):
        return state
    if state == "missing" and try_pull(image.ref):
        return "pulled"
    log(f"building an offline stand-in for {image.ref} ...")
    if image.ref == BASE:
        _build_base(image)
    else:
        _build_from_dockerfile(image)
    return "built stand-in"


def _labels(image: Official) -> dict[str, str]:
    return {OFFLINE_LABEL: "true", REPLACES_LABEL: image.ref, RECIPE_LABEL: recipe_hash(image)}


def _build_from_dockerfile(image: Official) -> None:
    with tempfile.TemporaryDirectory() as empty:
        extra_ca = HOST_EXTRA_CA if _extra_ca_files() else Path(empty)
        build(image.directory, image.ref, labels=_labels(image),
              build_contexts={"extra-ca": extra_ca})


def _build_base(image: Official) -> None:
    """debian:trixie-slim from debootstrap, slimmed the way the official image is."""
    if os.geteuid() != 0:
        raise WorkbookError(f"building the stand-in for {image.ref} needs root (debootstrap); "
                            "rerun as root, or load a real image with 'docker load'")
    if shutil.which("debootstrap") is None:
        _run(["apt-get", "install", "-y", "-qq", "debootstrap"], "installing debootstrap")
    with tempfile.TemporaryDirectory(prefix="workbook-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", "trixie", str(rootfs)], "debootstrap trixie")
        shutil.copy(image.directory / "dpkg-docker.cfg", rootfs / "etc/dpkg/dpkg.cfg.d/docker")
        shutil.copy(image.directory / "apt-docker-clean", rootfs / "etc/apt/apt.conf.d/docker-clean")
        for junk in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                     "usr/share/lintian", "var/lib/apt/lists", "var/cache/apt", "var/log"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
        (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)
        (rootfs / "var/log").mkdir()
        ca_dir = rootfs / "usr/local/share/ca-certificates"
        ca_dir.mkdir(parents=True, exist_ok=True)
        for cert in _extra_ca_files():
            shutil.copy(cert, ca_dir / cert.name)
        changes = ['CMD ["bash"]', "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        changes += [f"LABEL {key}={value}" for key, value in _labels(image).items()]
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
                               stdout=subprocess.PIPE)
        args = ["docker", "import"] + [a for c in changes for a in ("--change", c)] + ["-", image.ref]
        result = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if result.returncode != 0 or tar.returncode != 0:
            raise WorkbookError(f"importing the {image.ref} rootfs failed", result.stderr)


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise WorkbookError(f"{what} failed", tail(result.stdout + result.stderr))
