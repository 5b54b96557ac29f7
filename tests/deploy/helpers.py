"""Read docker-compose.yml and the Dockerfile the way Docker does (enough of it to test).

Docker isn't available where the suite runs, so the deploy tests parse the files and
check what they name against the code: modules, queues, commands, settings.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

DJANGO_SERVICES = ("setup", "models", "web", "worker", "beat", "worker-gpu", "worker-cpu")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat", "worker-gpu", "worker-cpu")
ONE_SHOT = ("setup", "models")

# A minimal environment for interpolating the compose file (the .env an operator writes).
OPERATOR_ENV = {
    "SECRET_KEY": "k" * 50,
    "ALLOWED_HOSTS": "bertgpt.example.org",
    "POSTGRES_PASSWORD": "pgpass",
    "REDIS_PASSWORD": "redispass",
    "TORCH_VARIANT": "cu128",
}


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


# --- Compose variable interpolation -------------------------------------------------------
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, and $$ for a
# literal $. Defaults may nest one level (${A:-x${B:-y}}), as compose allows.
_VAR = re.compile(
    r"\$(?:(?P<dollar>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>(?:[^{}$]|\$\{[^{}]*\}|\$)*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(KeyError):
    pass


def interpolate_text(text: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        if match.group("dollar"):
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return interpolate_text(arg, env) if unset else value
        if op in (":?", "?"):
            if unset:
                raise MissingVariable(f"{name}: {arg}")
            return value
        return value or ""

    return _VAR.sub(substitute, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose interpolates every string value (not keys) after parsing the YAML."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def variables_used(node: Any) -> set[str]:
    """Every variable name the compose file interpolates."""
    names: set[str] = set()
    if isinstance(node, str):
        for match in _VAR.finditer(node):
            name = match.group("name") or match.group("bare")
            if name:
                names.add(name)
                names |= variables_used(match.group("arg") or "")
    elif isinstance(node, list):
        for item in node:
            names |= variables_used(item)
    elif isinstance(node, dict):
        for value in node.values():
            names |= variables_used(value)
    return names


def command_list(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    return list(command or [])


def option(command: list[str], name: str) -> str | None:
    """The value of ``--name=value`` or ``--name value`` in a command line."""
    for index, part in enumerate(command):
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
        if part == name and index + 1 < len(command):
            return command[index + 1]
    return None


def healthcheck_python_snippets(service: dict[str, Any]) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test") or []
    if isinstance(test, list) and test[:3] == ["CMD", "python", "-c"]:
        return [test[3]]
    return []


# --- Environment variable names the code reads -------------------------------------------


def env_names_read_by(paths: list[Path]) -> set[str]:
    """Names read through django-environ (``env("X")``, ``env.int("X")``...) or os.environ."""
    names: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = _env_name(node)
            if name:
                names.add(name)
    return names


def _first_str_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _env_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        # env("X"), env.int("X"), env.db("X") ...
        if isinstance(func, ast.Name) and func.id == "env":
            return _first_str_arg(node)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "env":
                return _first_str_arg(node)
            if func.value.id == "os" and func.attr == "getenv":
                return _first_str_arg(node)
        # os.environ.get("X"), os.environ.setdefault("X", ...)
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("get", "setdefault")
            and ast.unparse(func.value) == "os.environ"
        ):
            return _first_str_arg(node)
        # _int("X", ...) helpers in gunicorn.py
        if isinstance(func, ast.Name) and func.id == "_int":
            return _first_str_arg(node)
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
    return None


def project_python_files() -> list[Path]:
    files = [
        *sorted((ROOT / "site" / "config").rglob("*.py")),
        *sorted((ROOT / "inference").rglob("*.py")),
        *sorted((ROOT / "lessons").rglob("*.py")),
    ]
    return [path for path in files if "migrations" not in path.parts]


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments)
