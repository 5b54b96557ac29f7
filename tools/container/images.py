"""The images of the local check, made here: nothing can be pulled from a registry.

- ``localhost/bertgpt-bookworm:12``: a Debian bookworm root file system made with
  debootstrap (minbase) from Debian's archive and imported with ``podman import``. Made once;
  a later check reuses it (``--rebuild-base`` makes it again).
- On it, from this folder's Containerfiles: Python 3.11 (the Dockerfile's PYTHON_IMAGE),
  Node with npm (its NODE_IMAGE), PostgreSQL 15 and Redis 7.0 (the compose file's database
  and broker).
- The project's image from the project's own Dockerfile, with those two base images and
  torch from the CPU wheel on disk (``TORCH_WHEEL_DIR``, default ``/opt/wheels``; PyTorch's
  index can't be reached from here): that one file is mounted into the build at /wheels,
  never copied into a layer; so is this machine's CA bundle (``HOST_CA_BUNDLE``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .engine import ROOT, EngineError, Podman, say

HERE = Path(__file__).resolve().parent
BASE_IMAGE = "localhost/bertgpt-bookworm:12"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Debian's archive for the imported image's own apt, as the official bookworm images list it.
DEBIAN_SOURCES = """\
Types: deb
URIs: {mirror}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

# The images built on the base: tag -> Containerfile in this folder.
HELPERS = {
    "python": ("localhost/bertgpt-python:3.11-bookworm", "python.Containerfile"),
    "node": ("localhost/bertgpt-node:18-bookworm", "node.Containerfile"),
    "postgres": ("localhost/bertgpt-postgres:15-bookworm", "postgres.Containerfile"),
    "redis": ("localhost/bertgpt-redis:7.0-bookworm", "redis.Containerfile"),
}
APP_IMAGE = "localhost/bertgpt:local"
# The Dockerfile's npm stage, tagged so that pruning the old app images keeps its cache.
NPM_STAGE = ("localhost/bertgpt-npm:local", "gpt2-tokenizer")
# This machine's trusted certificates, for pip and npm inside the build: the network here
# re-signs HTTPS with a CA of its own. Mounted over the image's bundle for the RUN steps
# only (Debian's pip and Node read that file), so no layer keeps it.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TORCH_VARIANT = "cpu"


@dataclass
class BuildTimes:
    """Seconds each step took in this run (absent: the image was already there)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = round(seconds, 1)


def torch_wheel(directory: Path, version: str, variant: str) -> Path:
    """The wheel for ``torch==<version>+<variant>`` in ``directory`` (CPython 3.11, x86-64
    Linux), or EngineError naming what is missing."""
    pattern = f"torch-{version}+{variant}-cp311-cp311-*linux*_x86_64.whl"
    found = sorted(directory.glob(pattern)) if directory.is_dir() else []
    if not found:
        raise EngineError(
            f"no {pattern} in {directory}: put torch's {variant} wheel there, or point "
            "TORCH_WHEEL_DIR at a folder that has it"
        )
    return found[-1]


def pinned_torch_version(requirements: Path = ROOT / "requirements.txt") -> str:
    for line in requirements.read_text().splitlines():
        if line.startswith("torch=="):
            return line.split("==", 1)[1].strip()
    raise EngineError(f"{requirements} pins no torch==")


def make_base(podman: Podman, *, rebuild: bool = False) -> float | None:
    """Debootstrap bookworm into var/container/rootfs and import it; the seconds it took,
    or None when the image was already there."""
    if podman.image_exists(BASE_IMAGE) and not rebuild:
        say(f"{BASE_IMAGE}: already here (reused)")
        return None
    if shutil.which("debootstrap") is None:
        raise EngineError("debootstrap is not installed: apt-get install debootstrap")
    started = time.monotonic()
    rootfs = podman.work / "rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    podman.run(
        "-n",
        "10",
        "debootstrap",
        "--variant=minbase",
        SUITE,
        str(rootfs),
        DEBIAN_MIRROR,
        program="nice",
    )
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(
        DEBIAN_SOURCES.format(mirror=DEBIAN_MIRROR)
    )
    # As in the official images: no downloaded package files kept, no lists in the image.
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
    )
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    tar = subprocess.Popen(  # noqa: S603 - our own folder
        ["tar", "-C", str(rootfs), "-c", "."],  # noqa: S607 - tar from PATH
        stdout=subprocess.PIPE,
    )
    try:
        podman.run(
            "import",
            "--change",
            f"ENV PATH={PATH_ENV}",
            "--change",
            'CMD ["bash"]',
            "--message",
            f"debootstrap --variant=minbase {SUITE} {DEBIAN_MIRROR}",
            "-",
            BASE_IMAGE,
            stdin=tar.stdout,
        )
    finally:
        if tar.stdout:
            tar.stdout.close()
        tar.wait()
    shutil.rmtree(rootfs)  # the image holds it now
    return time.monotonic() - started


def make_helpers(podman: Podman, times: BuildTimes, *, rebuild: bool = False) -> None:
    """The Python, Node, PostgreSQL and Redis images on the base (each only when missing)."""
    for name, (tag, containerfile) in HELPERS.items():
        if podman.image_exists(tag) and not rebuild:
            say(f"{tag}: already here (reused)")
            continue
        seconds = podman.build(tag, HERE / containerfile, HERE, "--build-arg", f"BASE={BASE_IMAGE}")
        times.add(name, seconds)


def make_app(podman: Podman, wheel_dir: Path) -> float:
    """The project's image from its Dockerfile, on the local bases, torch from the wheel
    on disk (layers cached between runs: a second build with no change takes seconds)."""
    version = pinned_torch_version()
    wheel = torch_wheel(wheel_dir, version, TORCH_VARIANT)
    trust = []
    if HOST_CA_BUNDLE.is_file():
        trust = ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
    args = [
        "--build-arg",
        f"PYTHON_IMAGE={HELPERS['python'][0]}",
        "--build-arg",
        f"NODE_IMAGE={HELPERS['node'][0]}",
        "--build-arg",
        f"TORCH_VARIANT={TORCH_VARIANT}",
        "--build-arg",
        "TORCH_FIND_LINKS=/wheels",
        "--volume",
        f"{wheel}:/wheels/{wheel.name}:ro",
        *trust,
    ]
    tag, stage = NPM_STAGE
    seconds = podman.build(tag, ROOT / "Dockerfile", ROOT, "--target", stage, *args)
    return seconds + podman.build(APP_IMAGE, ROOT / "Dockerfile", ROOT, *args)
