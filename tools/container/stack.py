"""docker-compose.yml's stack under podman-compose, on this machine, phase by phase.

podman-compose is pinned (``COMPOSE_PACKAGES``) and installed into a virtual environment of
its own under var/container/: Debian's 1.0.3 can't read docker-compose.yml (a nested
``${POSTGRES_PASSWORD:-}`` inside a default, no profiles, no ``!override``/``!reset``).

podman 4.3 runs no healthchecks by itself without systemd, and podman-compose ignores
``condition: service_healthy`` on podman older than 4.6, so the order the compose file
declares is kept here instead: PostgreSQL and Redis until their own healthchecks pass
(``podman healthcheck run``: the compose file's commands, run on demand), then the one-shot
``setup`` (and ``models`` when the models are built in the stack), then web and the workers.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .engine import ROOT, EngineError, Podman, say
from .images import APP_IMAGE, HELPERS

HERE = Path(__file__).resolve().parent
PROJECT = "bertgpt-check"
COMPOSE_FILES = (ROOT / "docker-compose.yml", HERE / "compose.local.yml")
# podman-compose and what it imports, pinned; installed from PyPI into COMPOSE_VENV.
COMPOSE_PACKAGES = ("podman-compose==1.6.0", "python-dotenv==1.2.4", "PyYAML==6.0.4")
PORTS = {"LOCAL_WEB_PORT": 18000, "LOCAL_DB_PORT": 15432, "LOCAL_REDIS_PORT": 16379}
LONG_RUNNING = ("web", "worker", "beat", "worker-cpu")
PASSED_THROUGH = frozenset(
    {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"}
)


@dataclass(frozen=True)
class ModelsPlan:
    """Which models the stack serves and where they come from.

    ``demo``: the demo models ``make run`` built (var/models/demo, finished), mounted
    read-only: building them in the stack would take about 14 minutes on 2 cores.
    ``tiny``: random-weight miniatures the stack's own ``models`` service builds in
    seconds (``prepare_models`` with INFERENCE_PROFILE=tiny) into var/container/models.
    """

    profile: str
    directory: Path
    build_in_stack: bool


def demo_models_finished(models_dir: Path) -> bool:
    """True when ``models_dir/demo`` holds a finished build (its training.json says
    ``done``, and both models are there), not an early checkpoint or a build under way."""
    try:
        record = json.loads((models_dir / "demo" / "training.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("state") == "done"
        and all((models_dir / "demo" / role / "config.json").is_file() for role in ("bert", "gpt"))
    )


def models_plan(choice: str, *, host_models: Path, work: Path) -> ModelsPlan:
    """``choice`` is demo, tiny or auto (demo when a finished build is there, else tiny)."""
    if choice not in ("auto", "demo", "tiny"):
        raise EngineError(f"--models {choice!r}: choose auto, demo or tiny")
    finished = demo_models_finished(host_models)
    if choice == "demo" and not finished:
        raise EngineError(
            f"--models demo: no finished demo build in {host_models / 'demo'} "
            "(make run builds one; or use --models tiny)"
        )
    if choice == "demo" or (choice == "auto" and finished):
        return ModelsPlan("demo", host_models, build_in_stack=False)
    return ModelsPlan("tiny", work / "models", build_in_stack=True)


def compose_env(
    base: dict[str, str], plan: ModelsPlan, ports: dict[str, int] | None = None
) -> dict[str, str]:
    """What the compose files read: fresh secrets for this run, the local images, the
    ports, the models; nothing from a .env file, and of ``base`` (this process's
    environment) only what podman itself needs, so that a DATABASE_URL or a rate limit
    set for something else on this machine can't reach the stack."""
    return {
        **{name: value for name, value in base.items() if name in PASSED_THROUGH},
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "TORCH_VARIANT": "cpu",
        "BERTGPT_IMAGE": APP_IMAGE,
        "LOCAL_POSTGRES_IMAGE": HELPERS["postgres"][0],
        "LOCAL_REDIS_IMAGE": HELPERS["redis"][0],
        "LOCAL_MODELS_DIR": str(plan.directory),
        "INFERENCE_PROFILE": plan.profile,
        "WORKER_CONCURRENCY": "1",
        "INFERENCE_CONCURRENCY": "4",
        "LOG_FORMAT": "plain",
        **{name: str(port) for name, port in {**PORTS, **(ports or {})}.items()},
    }


def ensure_compose(podman: Podman) -> Path:
    """The pinned podman-compose, installed once into var/container/compose-venv."""
    venv = podman.work / "compose-venv"
    program = venv / "bin" / "podman-compose"
    stamp = venv / "installed.txt"
    wanted = "\n".join(COMPOSE_PACKAGES)
    if program.exists() and stamp.is_file() and stamp.read_text() == wanted:
        return program
    say(f"installing {', '.join(COMPOSE_PACKAGES)} into {venv}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)  # noqa: S603
    subprocess.run(  # noqa: S603 - the venv's own pip, pinned packages
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         *COMPOSE_PACKAGES],
        check=True,
    )  # fmt: skip
    stamp.write_text(wanted)
    return program


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, every: float = 2.0
) -> float:
    """Poll ``check`` until it is true; the seconds it took, EngineError after ``timeout``."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise EngineError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


class Stack:
    """The compose project ``bertgpt-check``: its services, their containers and logs."""

    def __init__(self, podman: Podman, compose: Path, env: dict[str, str]) -> None:
        self.podman = podman
        self.program = str(compose)
        self.env = env

    def compose(self, *args: str, check: bool = True, timeout: float | None = 900):
        files = [part for path in COMPOSE_FILES for part in ("-f", str(path))]
        saved = self.podman.env
        self.podman.env = self.env
        try:
            return self.podman.run(
                "-p", PROJECT, "--profile", "cpu", *files, *args,
                program=self.program, check=check, timeout=timeout,
            )  # fmt: skip
        finally:
            self.podman.env = saved

    def up(self, *services: str) -> None:
        self.compose("up", "-d", "--no-deps", *services)

    def run_once(self, service: str, *, timeout: float) -> None:
        """A one-shot service to its end; EngineError unless it exits 0."""
        self.compose("run", "--rm", "--no-deps", service, timeout=timeout)

    def container(self, service: str) -> str | None:
        names = self.podman.output(
            "ps", "--all",
            "--filter", f"label=io.podman.compose.project={PROJECT}",
            "--filter", f"label=com.docker.compose.service={service}",
            "--format", "{{.Names}}",
        ).split()  # fmt: skip
        return names[0] if names else None

    def healthy(self, service: str) -> bool:
        """The service's own compose healthcheck, run once now."""
        name = self.container(service)
        if name is None:
            return False
        result = self.podman.run("healthcheck", "run", name, check=False, capture=True, quiet=True)
        return result.returncode == 0

    def running(self, service: str) -> bool:
        name = self.container(service)
        if name is None:
            return False
        return self.podman.output("inspect", "--format", "{{.State.Running}}", name) == "true"

    def logs(self, service: str, lines: int = 40) -> str:
        name = self.container(service)
        if name is None:
            return f"({service}: no container)"
        result = self.podman.run(
            "logs", "--tail", str(lines), name, check=False, capture=True, quiet=True
        )
        return (result.stdout + result.stderr).strip()

    def down(self) -> None:
        """Stop and remove every container and volume of the project (the models folder
        on the host is left alone)."""
        self.compose("down", "--volumes", "--timeout", "20", check=False, timeout=300)
