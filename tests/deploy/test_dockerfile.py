"""The Dockerfile builds what the compose file runs, as an unprivileged user."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys

import pytest

from .helpers import ROOT, dockerfile_instructions, exec_form


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions()


def args_of(instructions, keyword: str) -> list[str]:
    return [args for key, args in instructions if key == keyword]


def env_of(instructions) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in args_of(instructions, "ENV"):
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            values[name] = value
    return values


def build_args(instructions) -> dict[str, str]:
    values = {}
    for args in args_of(instructions, "ARG"):
        name, _, default = args.partition("=")
        values[name] = default
    return values


DIGEST_PIN = re.compile(r"(?P<name>[a-z0-9./-]+):(?P<tag>[\w.-]+)@sha256:[0-9a-f]{64}")


def base_image(instructions, stage: str) -> str:
    (base,) = [args for args in args_of(instructions, "FROM") if args.endswith(f" AS {stage}")]
    image = base.split()[0]
    if image.startswith("${"):
        image = build_args(instructions)[image.strip("${}")]
    return image


def test_based_on_python_311_slim_pinned_by_digest(instructions):
    pin = DIGEST_PIN.fullmatch(base_image(instructions, "app"))

    assert pin is not None  # name:tag@sha256:<64 hex>: the tag for readers, the digest pulled
    assert pin["name"] == "python"
    assert re.fullmatch(r"3\.11(\.\d+)?-slim-bookworm", pin["tag"])


def test_the_node_stage_is_pinned_by_digest(instructions):
    pin = DIGEST_PIN.fullmatch(base_image(instructions, "gpt2-tokenizer"))

    assert pin is not None
    assert (pin["name"], pin["tag"]) == ("node", "20-bookworm-slim")


def test_every_from_line_is_a_pinned_base_or_an_earlier_stage(instructions):
    """A build argument may swap a base (the local podman build does), but nothing is
    pulled by a bare tag."""
    stages: set[str] = set()
    for args in args_of(instructions, "FROM"):
        image, *rest = args.split()
        if image.startswith("${"):
            image = build_args(instructions)[image.strip("${}")]
        assert image in stages or DIGEST_PIN.fullmatch(image), image
        if rest[:1] == ["AS"]:
            stages.add(rest[1])


def test_the_image_has_the_demo_corpus_and_gpt2s_tokenizer_files(instructions):
    installs = " ".join(args_of(instructions, "RUN"))
    assert "wordnet-base" in installs and "dict-gcide" in installs
    tokenizer_dir = env_of(instructions)["GPT2_TOKENIZER_DIR"]
    copied = " ".join(args_of(instructions, "COPY"))
    assert "encoder.json" in copied and "vocab.bpe" in copied and tokenizer_dir in copied


def test_runs_as_a_non_root_user_after_installing(instructions):
    keywords = [key for key, _ in instructions]
    users = args_of(instructions, "USER")

    assert len(users) == 1
    uid = users[0].split(":")[0]
    assert uid not in ("root", "0")
    assert keywords.index("USER") > max(i for i, key in enumerate(keywords) if key == "RUN")
    created = " ".join(args_of(instructions, "RUN"))
    assert f"--uid {uid}" in created  # the user exists in the image


def test_fetches_no_buildkit_frontend():
    """A `# syntax=` line makes BuildKit pull a frontend image at build time, unpinned."""
    first = (ROOT / "Dockerfile").read_text().splitlines()[0]
    assert not first.lower().startswith("# syntax=")


def test_installs_the_pinned_requirements_with_torch_from_a_build_arg(instructions):
    runs = " ".join(args_of(instructions, "RUN"))

    assert "pip install -r requirements.txt" in runs
    assert "TORCH_VARIANT" in build_args(instructions)
    # torch of that variant only, from PyTorch's index for it; no variant, no image
    assert '--index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"' in runs
    assert '"torch==${TORCH_VERSION}+${TORCH_VARIANT}"' in runs
    assert 'test -n "${TORCH_VARIANT}"' in runs
    # The version the image installs is the one requirements.txt pins.
    match = re.search(r'TORCH_VERSION="\$\((sed [^)]*)\)"', runs)
    pinned = subprocess.run(
        shlex.split(match.group(1)), cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert f"torch=={pinned}" in requirements


def test_torch_from_a_local_wheel_only_when_asked_and_the_same_pin(instructions):
    """TORCH_FIND_LINKS (the local podman build) changes where torch comes from, not which
    torch: both branches install exactly torch==<pinned>+<variant>; empty, PyTorch's index."""
    assert build_args(instructions)["TORCH_FIND_LINKS"] == ""
    (step,) = [args for args in args_of(instructions, "RUN") if "TORCH_VERSION=" in args]
    branches = r'if \[ -n "\$\{TORCH_FIND_LINKS\}" \];\s+then\s+(.*?);\s+else\s+(.*?);\s+fi'
    local = re.search(branches, step)

    assert local is not None
    from_wheel, from_index = local.groups()
    assert '--find-links "${TORCH_FIND_LINKS}"' in from_wheel
    assert "download.pytorch.org" not in from_wheel
    assert "--index-url" in from_index
    for branch in (from_wheel, from_index):
        assert branch.strip().endswith('"torch==${TORCH_VERSION}+${TORCH_VARIANT}"')


def test_the_image_gets_no_test_lint_or_benchmark_tools(instructions):
    """requirements.txt is what runs the site; the tools live in requirements-dev.txt,
    which the image never installs (both pinned with ==, one version of each package)."""

    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text().splitlines()
        found = {}
        for line in lines:
            if line and not line.startswith(("#", "-r ")):
                package, version = line.split("==")
                found[package.lower()] = version
        return found

    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    for tool in ("pytest", "pytest-django", "hypothesis", "playwright", "ruff", "factory_boy"):
        assert tool in dev and tool not in runtime
    assert not set(runtime) & set(dev)
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    installed = " ".join(args_of(instructions, "RUN") + args_of(instructions, "COPY"))
    assert "requirements-dev.txt" not in installed


def test_requirements_are_copied_before_the_code_for_layer_caching(instructions):
    copies = [c for c in args_of(instructions, "COPY") if not c.startswith("--from=")]

    assert copies[0].endswith("requirements.txt ./")
    assert copies[-1].split()[-2:] == [".", "."]


def test_environment_points_at_production_settings_and_the_project(instructions):
    env = env_of(instructions)

    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert set(env["PYTHONPATH"].split(":")) == {"/app", "/app/site"}
    assert env["MODELS_DIR"] == "/models"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_static_files_and_translations_build_with_production_settings(instructions, tmp_path):
    """The image's build step: `export` the placeholders production settings require, then
    collectstatic and compilemessages; both run here with exactly that environment."""
    (step,) = [args for args in args_of(instructions, "RUN") if "collectstatic" in args]
    parts = [part.strip() for part in step.split("&&")]
    exported = shlex.split(parts[0])
    assert exported[0] == "export"
    build_env = dict(word.split("=", 1) for word in exported[1:])
    commands = {
        words[2]: words for words in (shlex.split(part) for part in parts[1:]) if len(words) > 2
    }
    assert commands["collectstatic"][:2] == ["python", "manage.py"]
    assert commands["compilemessages"][:2] == ["python", "manage.py"]

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        **env_of(instructions),
        **build_env,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'site'}",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    for name in ("collectstatic", "compilemessages"):
        if name == "compilemessages" and shutil.which("msgfmt") is None:
            continue  # the image installs gettext; `make messages` does here
        result = subprocess.run(
            [sys.executable, *commands[name][1:]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    static = tmp_path / "static"
    assert (static / "staticfiles.json").is_file()
    assert list(static.glob("css/site.*.css"))
    assert list(static.glob("django_htmx/htmx-2.min.*.js.gz"))
    assert "gettext" in " ".join(args_of(instructions, "RUN"))  # msgfmt in the image


def test_default_command_is_gunicorn_with_threads(instructions):
    (cmd,) = args_of(instructions, "CMD")
    argv = exec_form(cmd)

    assert argv[0] == "gunicorn"
    assert argv[argv.index("--pythonpath") + 1] == "site"
    config_path = ROOT / argv[argv.index("--config") + 1]
    config = runpy.run_path(str(config_path))
    assert config["worker_class"] == "gthread"
    assert config["threads"] > 1
    assert "{x-request-id}o" in config["access_log_format"]


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.setenv("GUNICORN_THREADS", "3")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "45")
    monkeypatch.setenv("LOG_FORMAT", "plain")

    config = runpy.run_path(str(ROOT / "site" / "config" / "gunicorn.py"))

    assert (config["workers"], config["threads"], config["timeout"]) == (5, 3, 45)
    assert "logconfig_dict" not in config


def test_dockerignore_keeps_local_state_and_secrets_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".git", ".venv", ".env", "var", "staticfiles", "**/__pycache__"} <= ignored
