"""podman as this kind of machine lets it run, for every command of the container check.

Two things differ from a stock podman here, and both are written into config files of our
own (``var/container/containers.conf`` and ``storage.conf``, passed through
``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF``) so that ``podman build``, ``podman run``
and podman-compose all get them without a flag on every call:

- The OCI runtime is runc: the default crun fails on setrlimit.
- Root here lacks CAP_SYS_RESOURCE, and rootful podman asks for 1,048,576 open files and
  processes in every container, which the kernel refuses ("error setting rlimit"). The
  containers get this process's own hard limit of open files instead, and at most 32,768
  processes (measured: 32,768 starts, 65,536 is refused, though ``ulimit -Hu`` says 96,555).

The images live in a store of the project's own (``/var/lib/containers/bertgpt``, outside
the build context, so the Dockerfile's ``COPY . .`` never walks it) with the overlay driver
where the kernel has overlayfs, else vfs (which copies every layer: slower, bigger);
``CONTAINER_STORAGE_DRIVER`` chooses.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "var" / "container"
GRAPH_ROOT = Path(os.environ.get("CONTAINER_GRAPH_ROOT", "/var/lib/containers/bertgpt"))
RUN_ROOT = Path(os.environ.get("CONTAINER_RUN_ROOT", "/run/containers/bertgpt"))
NPROC_CEILING = 32_768
NOFILE_CEILING = 1_048_576


class EngineError(RuntimeError):
    """podman (or a tool it needs) is missing or refused a step; the message says which."""


def hard_limits(text: str) -> dict[str, int | None]:
    """The hard limits of open files and processes from a ``/proc/<pid>/limits`` text
    (None for "unlimited" or a line that isn't there)."""
    found: dict[str, int | None] = {"nofile": None, "nproc": None}
    names = {"Max open files": "nofile", "Max processes": "nproc"}
    for line in text.splitlines():
        for label, key in names.items():
            if line.startswith(label):
                hard = line[len(label) :].split()[1]
                found[key] = int(hard) if hard.isdigit() else None
    return found


def container_ulimits(limits: dict[str, int | None]) -> list[str]:
    """``default_ulimits`` for containers.conf: no more than this process may have itself
    (raising a limit needs CAP_SYS_RESOURCE), and processes capped at NPROC_CEILING."""
    nofile = min(limits.get("nofile") or NOFILE_CEILING, NOFILE_CEILING)
    nproc = min(limits.get("nproc") or NPROC_CEILING, NPROC_CEILING)
    return [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]


def containers_conf(ulimits: list[str]) -> str:
    listed = ", ".join(f'"{item}"' for item in ulimits)
    return (
        "# Written by tools/container/engine.py for make container-check.\n"
        "[containers]\n"
        f"default_ulimits = [{listed}]\n"
        "\n[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


def storage_conf(driver: str, graph_root: Path, run_root: Path) -> str:
    return (
        "# Written by tools/container/engine.py for make container-check.\n"
        "[storage]\n"
        f'driver = "{driver}"\n'
        f'graphroot = "{graph_root}"\n'
        f'runroot = "{run_root}"\n'
    )


def storage_driver() -> str:
    chosen = os.environ.get("CONTAINER_STORAGE_DRIVER", "").strip()
    if chosen:
        return chosen
    try:
        filesystems = Path("/proc/filesystems").read_text()
    except OSError:
        return "vfs"
    return "overlay" if "overlay" in filesystems.split() else "vfs"


def say(message: str) -> None:
    print(f"container-check: {message}", flush=True)


class Podman:
    """podman and podman-compose with this machine's settings (see the module's doc)."""

    def __init__(self, work: Path = WORK) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.driver = storage_driver()
        limits = hard_limits(Path("/proc/self/limits").read_text())
        conf = work / "containers.conf"
        conf.write_text(containers_conf(container_ulimits(limits)))
        storage = work / "storage.conf"
        storage.write_text(storage_conf(self.driver, GRAPH_ROOT, RUN_ROOT))
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(conf),
            "CONTAINERS_STORAGE_CONF": str(storage),
        }

    def run(
        self,
        *args: str,
        check: bool = True,
        capture: bool = False,
        timeout: float | None = None,
        program: str = "podman",
        stdin=None,
        quiet: bool = False,
    ) -> subprocess.CompletedProcess:
        """Run ``program *args`` with the engine's environment; EngineError when it exits
        non-zero and ``check``. Output goes to this terminal unless ``capture``."""
        if not quiet:
            say("$ " + shlex.join([program, *args]))
        try:
            result = subprocess.run(  # noqa: S603 - podman and our own tools, our arguments
                [program, *args],
                env=self.env,
                cwd=ROOT,
                stdin=stdin,
                capture_output=capture,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise EngineError(
                f"{program} is not installed: apt-get install podman runc podman-compose"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"{program} {args[0]} ran past {timeout:.0f} s") from exc
        if check and result.returncode != 0:
            detail = (result.stderr or "").strip()[-2000:] if capture else ""
            raise EngineError(
                f"{program} {' '.join(args[:2])} exited {result.returncode}"
                + (f": {detail}" if detail else "")
            )
        return result

    def output(self, *args: str, **kwargs) -> str:
        return self.run(*args, capture=True, quiet=True, **kwargs).stdout.strip()

    def image_exists(self, name: str) -> bool:
        return self.run("image", "exists", name, check=False, quiet=True).returncode == 0

    def image_size(self, name: str) -> int:
        return int(self.output("image", "inspect", "--format", "{{.Size}}", name))

    def build(self, tag: str, containerfile: Path, context: Path, *extra: str) -> float:
        """``podman build`` (host network: apt, PyPI and npm reached as on the host), under
        nice; its wall time in seconds."""
        started = time.monotonic()
        self.run(
            "-n",
            "10",
            "podman",
            "build",
            "--network=host",
            "--layers",
            "--tag",
            tag,
            "--file",
            str(containerfile),
            *extra,
            str(context),
            program="nice",
        )
        return time.monotonic() - started
