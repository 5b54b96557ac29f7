"""The import contract: which part of the code may import which (docs/architecture.md).

Every import in the apps is read from the source (``ast``), the ones inside functions
included, so a dependency can't hide in a function body:

- the web side of ``inference`` never imports the worker side, the training code, torch
  or transformers (a web process starts fast and small);
- the shared contract imports neither side;
- no app imports ``config`` (Celery is reached through ``shared_task``/``current_app``);
- ``lessons`` reaches ``inference`` only through ``inference.facade``;
- ``inference`` never imports ``lessons`` (the demo card format both read is the contract's
  ``demo_cards``);
- ``accounts`` (sign-up, the learner's own address, throttles) imports neither other app;
  both may import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("accounts", "inference", "lessons")

# The three packages of inference (docs/architecture.md); the facade and the template tags
# are web-side modules outside web/ (lessons import the facade; Django finds templatetags/).
CONTRACT = ("inference.contract",)
# inference.apps is the wiring: its ready() connects the worker's Celery signal handlers.
WEB = ("inference.web", "inference.facade", "inference.templatetags")
WORKER_PREFIXES = ("inference.worker", "inference.training", "torch", "transformers")
# The facade's calibration helpers load the encoder for `manage.py calibrate_free_text`,
# inside those two functions only.
FACADE_WORKER_IMPORTS = {
    "inference.contract.registry",
    "inference.worker.loading",
    "inference.worker.engine.short_answer",
}
# Every module of inference is in exactly one of these (or is the app's own wiring).
WIRING = ("inference.apps", "inference.migrations", "inference.management")


def _module_files() -> set[str]:
    return {module_name(path) for app in APPS for path in (ROOT / app).rglob("*.py")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def app_modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, anywhere in its source, as absolute names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # `from inference import kinds` imports the module inference.kinds
            found.update(
                f"{module}.{alias.name}"
                for alias in node.names
                if f"{module}.{alias.name}" in MODULE_FILES
            )
    return found


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


MODULE_FILES = _module_files()
MODULES = app_modules()
IMPORTS = {name: imports_of(name, path) for name, path in MODULES.items()}


def test_every_inference_module_is_on_one_side():
    sides = {
        name: [side for side in (CONTRACT, WEB, WORKER_PREFIXES, WIRING) if within(name, side)]
        for name in MODULES
        if within(name, ("inference",)) and name != "inference"
    }
    assert {name: found for name, found in sides.items() if len(found) != 1} == {}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if within(n, WEB)))
def test_the_web_side_never_imports_the_worker_side(name):
    allowed = FACADE_WORKER_IMPORTS if name == "inference.facade" else set()
    bad = {m for m in IMPORTS[name] if within(m, WORKER_PREFIXES) and m not in allowed}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if within(n, CONTRACT)))
def test_the_contract_imports_neither_side(name):
    bad = {m for m in IMPORTS[name] if within(m, WORKER_PREFIXES) or within(m, WEB)}
    assert not bad, f"{name} imports {sorted(bad)}"


# lessons.tasks.ping_worker reports the request id the caller's log lines carry; the id's
# context variable lives in config.request_id with the middleware and Celery signals that
# set it. To go: a request-id module of its own outside the project folder.
CONFIG_EXCEPTIONS = {("lessons.tasks", "config.request_id")}


def test_no_app_imports_config():
    bad = {(n, m) for n, found in IMPORTS.items() for m in found if within(m, ("config",))}
    assert bad <= CONFIG_EXCEPTIONS, sorted(bad - CONFIG_EXCEPTIONS)


def test_lessons_reach_inference_only_through_the_facade():
    bad = {
        (n, m)
        for n, found in IMPORTS.items()
        if within(n, ("lessons",))
        for m in found
        if within(m, ("inference",)) and m not in {"inference", "inference.facade"}
    }
    assert not bad


def test_inference_never_imports_lessons():
    found = {
        (n, m)
        for n, names in IMPORTS.items()
        if within(n, ("inference",))
        for m in names
        if within(m, ("lessons",))
    }
    assert not found, sorted(found)


def test_accounts_import_neither_other_app():
    bad = {
        (n, m)
        for n, found in IMPORTS.items()
        if within(n, ("accounts",))
        for m in found
        if within(m, ("inference", "lessons"))
    }
    assert not bad, sorted(bad)
