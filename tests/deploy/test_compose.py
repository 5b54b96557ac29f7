"""docker-compose.yml names real things: modules, queues, commands, settings, volumes."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from functools import cache

import environ
import pytest
from celery import Celery
from django.conf import settings
from django.core.management import get_commands

from .helpers import (
    COMPOSE_FILE,
    DJANGO_SERVICES,
    LONG_RUNNING,
    ONE_SHOT,
    OPERATOR_ENV,
    ROOT,
    MissingVariable,
    command_list,
    env_names_read_by,
    healthcheck_python_snippets,
    interpolate,
    load_compose,
    option,
    project_python_files,
    variables_used,
)

# Environment variables the compose file sets that our code doesn't read itself.
READ_ELSEWHERE = {
    "DJANGO_SETTINGS_MODULE": "Django",
    "HF_HOME": "huggingface_hub (download cache inside the models volume)",
    "WORKER_NAME": "the inference workers' compose healthcheck (heartbeat key)",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(load_compose(), OPERATOR_ENV)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def celery_command(service: dict) -> list[str]:
    command = command_list(service)
    assert command[0] == "celery"
    return command


@cache
def cli_help(*args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'site'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    result = subprocess.run(
        [sys.executable, "-m", *args, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def long_options(command: list[str]) -> set[str]:
    return {part.split("=", 1)[0] for part in command if part.startswith("--")}


# --- Shape ------------------------------------------------------------------------------


def test_the_expected_services_exist(services):
    assert set(services) == {*LONG_RUNNING, *ONE_SHOT}


def test_django_services_share_one_anchor():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    raw = load_compose()

    assert re.search(r"^x-django: &django$", text, re.MULTILINE)
    anchor = raw["x-django"]
    for name in DJANGO_SERVICES:
        service = raw["services"][name]
        assert service["image"] == anchor["image"], name
        assert service["build"] == anchor["build"], name
        assert anchor["environment"].items() <= service["environment"].items(), name
    assert text.count("<<: *django") >= 4


def test_required_operator_variables_fail_loudly_when_missing():
    raw = load_compose()
    for missing in OPERATOR_ENV:
        env = {k: v for k, v in OPERATOR_ENV.items() if k != missing}
        with pytest.raises(MissingVariable, match=missing):
            interpolate(raw, env)


def test_database_and_redis_urls_point_at_the_compose_services(services):
    env = services["web"]["environment"]

    db = environ.Env.db_url_config(env["DATABASE_URL"])
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"]) == ("postgres", 5432, "bertgpt")
    assert db["USER"] == services["postgres"]["environment"]["POSTGRES_USER"]
    assert db["PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]
    assert env["REDIS_URL"] == f"redis://:{OPERATOR_ENV['REDIS_PASSWORD']}@redis:6379/0"


def test_urls_given_by_the_operator_win(services):
    remote = {
        **OPERATOR_ENV,
        "DATABASE_URL": "postgres://u:p@10.0.0.5:5432/bertgpt",
        "REDIS_URL": "redis://:p@10.0.0.5:6379/0",
    }
    env = interpolate(load_compose(), remote)["services"]["worker-gpu"]["environment"]

    assert env["DATABASE_URL"] == remote["DATABASE_URL"]
    assert env["REDIS_URL"] == remote["REDIS_URL"]


# --- Commands name real code ------------------------------------------------------------------


def test_web_runs_gunicorn_on_the_wsgi_app_with_the_config_file(services):
    command = command_list(services["web"])

    assert command[0] == "gunicorn"
    config = option(command, "--config")
    assert (ROOT / config).is_file()
    assert option(command, "--pythonpath") == "site"
    module_name, _, attribute = command[-1].partition(":")
    assert (module_name, attribute) == ("config.wsgi", "application")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert long_options(command) <= set(re.findall(r"--[a-z][a-z-]+", cli_help("gunicorn")))


@pytest.mark.parametrize("name", ["worker", "worker-gpu", "worker-cpu"])
def test_workers_use_the_project_celery_app(services, name):
    command = celery_command(services[name])
    module_name = option(command, "--app")

    app = importlib.import_module(module_name).app
    assert isinstance(app, Celery)
    assert command[2] == "worker"


def test_worker_options_exist_in_this_celery():
    raw = load_compose()["services"]
    used: set[str] = set()
    for name in ("worker", "worker-gpu", "worker-cpu"):
        used |= long_options(celery_command(raw[name])[3:])
    known = set(
        re.findall(r"--[a-z][a-z-]+", cli_help("celery", "--app=config.celery_app", "worker"))
    )

    assert used <= known


def test_each_worker_consumes_the_queue_its_tasks_are_routed_to(services):
    default = option(celery_command(services["worker"]), "--queues")
    gpu = option(celery_command(services["worker-gpu"]), "--queues")
    cpu = option(celery_command(services["worker-cpu"]), "--queues")

    assert default == settings.CELERY_TASK_DEFAULT_QUEUE
    assert gpu == cpu == settings.INFERENCE_QUEUE
    assert settings.CELERY_TASK_ROUTES["inference.tasks.*"]["queue"] == settings.INFERENCE_QUEUE


@pytest.mark.parametrize("name", ["worker-gpu", "worker-cpu"])
def test_model_workers_use_threads_and_prefetch_one(services, name):
    command = celery_command(services[name])

    assert option(command, "--pool") == "threads"
    assert option(command, "--prefetch-multiplier") == "1"
    assert int(option(command, "--concurrency")) >= 1
    # The heartbeat healthcheck finds the worker by its node name: <WORKER_NAME>@<host>.
    node = option(command, "--hostname")
    assert node == services[name]["environment"]["WORKER_NAME"] + "@%h"


def test_one_shot_steps_run_real_management_commands(services):
    commands = get_commands()
    used = []
    for name in ONE_SHOT:
        line = " ".join(command_list(services[name]))
        used += re.findall(r"manage\.py ([a-z_]+)", line)

    assert {"migrate", "load_course", "prepare_models"} <= set(used)
    for command in used:
        assert command in commands, f"manage.py {command} does not exist"


def test_setup_migrates_before_loading_the_course(services):
    line = " ".join(command_list(services["setup"]))

    assert line.index("migrate") < line.index("load_course")
    assert "&&" in line  # a failed migration stops the step (and everything after it)


# --- GPU, CPU, dependencies ----------------------------------------------------------------


def test_gpu_worker_reserves_an_nvidia_gpu(services):
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]

    assert len(devices) == 1
    device = devices[0]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]
    assert ("count" in device) != ("device_ids" in device)  # exactly one way of choosing
    assert device.get("count", 1) == 1 or len(device["device_ids"]) == 1


def test_cpu_worker_needs_no_gpu_and_profiles_split_them(services):
    assert "deploy" not in services["worker-cpu"]
    assert services["worker-gpu"]["profiles"] == ["gpu"]
    assert services["worker-cpu"]["profiles"] == ["cpu"]
    assert set(services["models"]["profiles"]) == {"gpu", "cpu"}
    for name in ("web", "worker", "redis", "postgres", "setup"):
        assert "profiles" not in services[name], name


def test_services_wait_for_what_they_need(services):
    def conditions(name):
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    for name in ("web", "worker"):
        assert conditions(name) == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "setup": "service_completed_successfully",
        }
    assert conditions("setup") == {"postgres": "service_healthy", "redis": "service_healthy"}
    for name in ("worker-gpu", "worker-cpu"):
        assert conditions(name) == {
            "redis": "service_healthy",
            "models": "service_completed_successfully",
        }


# --- Health checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_health_checks(services, name):
    healthcheck = services[name]["healthcheck"]

    assert not healthcheck.get("disable")
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")
    assert healthcheck["interval"] and healthcheck["timeout"] and healthcheck["retries"]
    assert services[name]["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", ONE_SHOT)
def test_one_shot_steps_run_once(services, name):
    assert services[name]["restart"] == "no"
    assert services[name]["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_python_health_probes_compile(services, name):
    for snippet in healthcheck_python_snippets(services[name]):
        compile(snippet, f"<{name} healthcheck>", "exec")


def test_web_probe_targets_the_cheap_endpoint_exempt_from_https_redirect(services):
    (snippet,) = healthcheck_python_snippets(services["web"])

    assert "/healthz" in snippet
    assert "ALLOWED_HOSTS" in snippet


def test_celery_probe_pings_this_worker_by_name(services):
    probe = services["worker"]["healthcheck"]["test"][1]
    node = option(celery_command(services["worker"]), "--hostname")

    assert probe.startswith("celery --app=config.celery_app inspect ping")
    # %h is the kernel's host name (socket.gethostname), which `hostname` prints
    assert f'--destination="{node.replace("%h", "$(hostname)")}"' in probe
    known = set(re.findall(r"--[a-z][a-z-]+", cli_help("celery", "inspect")))
    assert {"--destination", "--timeout"} <= known


# --- Redis, volumes ----------------------------------------------------------------------------


def test_redis_is_configured_as_a_broker(services):
    command = " ".join(command_list(services["redis"]))

    assert "--maxmemory-policy noeviction" in command
    assert "--appendonly yes" in command
    assert "--requirepass" in command


def test_state_lives_in_named_volumes(compose, services):
    declared = set(compose["volumes"])

    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    for name in ("models", "worker-gpu", "worker-cpu"):
        models_dir = services[name]["environment"]["MODELS_DIR"]
        assert f"models:{models_dir}" in services[name]["volumes"], name
    assert {"postgres-data", "redis-data", "models"} <= declared


def test_web_reads_the_models_it_never_writes(services):
    """web counts a demo input's tokens with the served tokenizer and shows the build's
    training.json: it mounts the models volume, read-only."""
    models_dir = services["web"]["environment"]["MODELS_DIR"]
    assert f"models:{models_dir}:ro" in services["web"]["volumes"]


def test_the_torch_build_is_chosen_on_purpose():
    raw = load_compose()["x-django"]["build"]["args"]["TORCH_VARIANT"]
    without = {k: v for k, v in OPERATOR_ENV.items() if k != "TORCH_VARIANT"}
    with pytest.raises(MissingVariable, match="TORCH_VARIANT"):
        interpolate(raw, without)


# --- Environment variables -------------------------------------------------------------------


def test_every_variable_given_to_django_is_read_by_the_code():
    raw = load_compose()
    read = env_names_read_by(project_python_files())
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "GUNICORN_THREADS"} <= read  # parser works
    for name in DJANGO_SERVICES:
        given = set(raw["services"][name]["environment"])
        unread = given - read - set(READ_ELSEWHERE)
        assert unread == set(), f"{name} sets variables nothing reads: {sorted(unread)}"


def test_the_settings_the_issue_names_are_configurable():
    anchor_env = set(load_compose()["x-django"]["environment"])

    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "INFERENCE_PROFILE",
        "MODELS_DIR",
        "DEMO_MAX_INPUT_TOKENS",
        "DEMO_MAX_NEW_TOKENS",
        "DEMO_RATE_LIMIT_USER",
        "DEMO_RATE_LIMIT_IP",
        "CELERY_TASK_TIME_LIMIT",
    } <= anchor_env


def test_compose_defaults_equal_the_settings_defaults():
    compose_defaults = interpolate(load_compose(), OPERATOR_ENV)["x-django"]["environment"]
    expected = {
        "CELERY_TASK_SOFT_TIME_LIMIT": settings.CELERY_TASK_SOFT_TIME_LIMIT,
        "CELERY_TASK_TIME_LIMIT": settings.CELERY_TASK_TIME_LIMIT,
        "CELERY_RESULT_EXPIRES": settings.CELERY_RESULT_EXPIRES,
        "DEMO_MAX_INPUT_TOKENS": settings.DEMO_LIMITS["max_input_tokens"],
        "DEMO_MAX_CHARS": settings.DEMO_LIMITS["max_chars"],
        "DEMO_MAX_NEW_TOKENS": settings.DEMO_LIMITS["max_new_tokens"],
        "DEMO_RATE_LIMIT_USER": settings.DEMO_RATE_LIMIT_USER,
        "DEMO_RATE_LIMIT_IP": settings.DEMO_RATE_LIMIT_IP,
        "SIGNUP_RATE_LIMIT_IP": settings.SIGNUP_RATE_LIMIT_IP,
        "SIGNUP_NOTICE_RATE_LIMIT_EMAIL": settings.SIGNUP_NOTICE_RATE_LIMIT_EMAIL,
        "PASSWORD_RESET_RATE_LIMIT_EMAIL": settings.PASSWORD_RESET_RATE_LIMIT_EMAIL,
        "PASSWORD_RESET_RATE_LIMIT_IP": settings.PASSWORD_RESET_RATE_LIMIT_IP,
        "WORKER_HEARTBEAT_TTL": settings.WORKER_HEARTBEAT_TTL,
    }
    for name, value in expected.items():
        if name in os.environ:
            continue  # this test run overrides the setting itself
        assert str(compose_defaults[name]) == str(value), name


def test_env_example_covers_every_required_variable():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    required = {
        match.group(1)
        for match in re.finditer(r"\$\{([A-Z_]+):\?", COMPOSE_FILE.read_text(encoding="utf-8"))
    }

    assert required == set(OPERATOR_ENV)
    for name in required:
        assert re.search(rf"^{name}=", example, re.MULTILINE), name
    assert variables_used(load_compose())  # sanity: the parser sees the variables


def test_one_beat_runs_the_periodic_free_text_sweep(services):
    command = celery_command(services["beat"])
    assert command[2] == "beat"
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    schedule = settings.CELERY_BEAT_SCHEDULE["sweep-free-text"]
    assert schedule["task"] == "lessons.tasks.sweep_free_text"
    known = set(
        re.findall(r"--[a-z][a-z-]+", cli_help("celery", "--app=config.celery_app", "beat"))
    )
    assert long_options(command[3:]) <= known


def test_postgres_and_redis_images_are_pinned_by_digest(services):
    """The tag for readers, the digest for what is pulled (docs/deploy.md: their source)."""
    pins = {
        name: re.fullmatch(r"([a-z0-9./-]+):([\w.-]+)@sha256:[0-9a-f]{64}", services[name]["image"])
        for name in ("postgres", "redis")
    }

    assert pins["postgres"] and pins["postgres"].groups() == ("postgres", "17-bookworm")
    assert pins["redis"] and pins["redis"].groups() == ("redis", "7.4-bookworm")
