"""The local podman check's parts that can be judged without building anything
(tools/container/): the override compose file merged onto docker-compose.yml the way
compose merges files, podman's settings for this kind of machine, the choice of models,
the torch wheel, the helper Containerfiles."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import environ
import pytest
import yaml

from tools.container import engine, images, stack

from .helpers import dockerfile_instructions, interpolate, load_compose

LOCAL_COMPOSE = stack.HERE / "compose.local.yml"
STARTED = ("postgres", "redis", "setup", "models", "web", "worker", "beat", "worker-cpu")
DJANGO = ("setup", "models", "web", "worker", "beat", "worker-cpu")
MACHINE_PORTS = {5432, 6379, 8000}  # the machine's PostgreSQL and Redis, a dev server


# --- compose's merge of an override file (the part of the spec these files use) ----------


class Reset:
    """`!reset`: the key is removed from the merged result."""


class Override:
    """`!override VALUE`: VALUE replaces the base's, not merged with it."""

    def __init__(self, value: Any) -> None:
        self.value = value


class OverrideLoader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.Loader, node: yaml.Node, tag: str) -> Any:
    if isinstance(node, yaml.SequenceNode):
        value: Any = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return Reset() if tag == "!reset" else Override(value)


for _tag in ("!reset", "!override"):
    OverrideLoader.add_constructor(
        _tag, lambda loader, node, tag=_tag: _construct(loader, node, tag)
    )


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's rules: mappings merge key by key, `command`/`entrypoint`/`test` are
    replaced, `volumes` merge by mount target, other sequences are appended to."""
    if isinstance(override, Override):
        return copy.deepcopy(override.value)
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            if isinstance(value, Reset):
                merged.pop(name, None)
            elif name in merged:
                merged[name] = merge(merged[name], value, name)
            else:
                merged[name] = value.value if isinstance(value, Override) else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        if key in ("command", "entrypoint", "test"):
            return list(override)
        if key == "volumes":
            targets = {item.split(":")[1] for item in override}
            return [item for item in base if item.split(":")[1] not in targets] + override
        return base + override
    return override


def load_local() -> dict[str, Any]:
    return yaml.load(LOCAL_COMPOSE.read_text(encoding="utf-8"), Loader=OverrideLoader)  # noqa: S506 - SafeLoader subclass


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    plan = stack.ModelsPlan("tiny", tmp_path_factory.mktemp("models"), build_in_stack=True)
    return stack.compose_env({}, plan)


@pytest.fixture(scope="module")
def services(env) -> dict[str, Any]:
    merged = merge(load_compose(), load_local())
    merged.pop("x-local-django-env", None)
    return interpolate(merged, env)["services"]


def test_the_override_names_only_services_the_compose_file_has():
    assert set(load_local()["services"]) <= set(load_compose()["services"])


@pytest.mark.parametrize("name", STARTED)
def test_every_service_the_check_starts_is_on_the_host_network_with_no_published_port(
    services, name
):
    assert services[name]["network_mode"] == "host"
    assert "ports" not in services[name]


def test_the_local_ports_are_not_the_machines(env):
    ports = {int(env[name]) for name in stack.PORTS}

    assert len(ports) == len(stack.PORTS)
    assert not ports & MACHINE_PORTS


@pytest.mark.parametrize("name", DJANGO)
def test_django_services_reach_the_local_database_and_redis(services, env, name):
    service_env = services[name]["environment"]
    db = environ.Env.db_url_config(service_env["DATABASE_URL"])
    redis_url = service_env["REDIS_URL"]

    assert (db["HOST"], db["PORT"], db["NAME"]) == (
        "127.0.0.1",
        int(env["LOCAL_DB_PORT"]),
        "bertgpt",
    )
    assert db["PASSWORD"] == env["POSTGRES_PASSWORD"]
    assert redis_url == f"redis://:{env['REDIS_PASSWORD']}@127.0.0.1:{env['LOCAL_REDIS_PORT']}/0"
    # the rest of the production environment is kept, not replaced
    assert service_env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert service_env["SECRET_KEY"] == env["SECRET_KEY"]
    assert service_env["SECURE_SSL_REDIRECT"] == "false"  # plain HTTP, no proxy in front


def test_postgres_and_redis_come_from_the_local_images_on_their_ports(services, env):
    assert services["postgres"]["image"] == images.HELPERS["postgres"][0]
    assert services["redis"]["image"] == images.HELPERS["redis"][0]
    assert services["postgres"]["environment"]["PGPORT"] == env["LOCAL_DB_PORT"]
    assert services["redis"]["environment"]["LOCAL_REDIS_PORT"] == env["LOCAL_REDIS_PORT"]


def test_redis_keeps_production_settings_on_its_own_port():
    production = " ".join(load_compose()["services"]["redis"]["command"])
    local = " ".join(load_local()["services"]["redis"]["command"])
    flags = re.compile(r"--[a-z-]+ (?:\S+ \S+(?= --)|\S+)")

    assert set(flags.findall(production)) <= set(flags.findall(local))
    assert '--port "$$LOCAL_REDIS_PORT"' in local


def test_the_redis_healthcheck_asks_the_local_port(services):
    """Written with one $ on purpose (podman-compose leaves `!override` values as they
    are; docker compose interpolates them): both read LOCAL_REDIS_PORT."""
    (_, command) = services["redis"]["healthcheck"]["test"]
    raw = load_local()["services"]["redis"]["healthcheck"]["test"].value[1]

    assert "redis-cli -p ${LOCAL_REDIS_PORT} ping" in raw
    assert "LOCAL_REDIS_PORT" in services["redis"]["environment"]
    assert "REDISCLI_AUTH" in services["redis"]["environment"]  # the password, for redis-cli
    assert "PONG" in command


def test_web_listens_on_the_local_port_and_checks_itself_there(services, env):
    web = services["web"]
    (kind, program, _, snippet) = web["healthcheck"]["test"]

    assert web["environment"]["GUNICORN_BIND"] == f"127.0.0.1:{env['LOCAL_WEB_PORT']}"
    assert (kind, program) == ("CMD", "python")
    assert 'os.environ["GUNICORN_BIND"]' in snippet
    assert "127.0.0.1:8000" not in json.dumps(web["healthcheck"])


def test_models_are_read_only_where_they_are_served(services, env):
    folder = env["LOCAL_MODELS_DIR"]

    assert services["web"]["volumes"] == [f"{folder}:/models:ro"]
    assert services["worker-cpu"]["volumes"] == [f"{folder}:/models:ro"]
    assert services["models"]["volumes"] == [f"{folder}:/models"]  # builds the tiny ones


# --- podman on this kind of machine ---------------------------------------------------------

LIMITS = """\
Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             96555                96555                processes
Max open files            20000                20000                files
"""


def test_limits_are_read_from_proc():
    assert engine.hard_limits(LIMITS) == {"nofile": 20000, "nproc": 96555}
    unlimited = LIMITS.replace("96555                96555", "unlimited            unlimited")
    assert engine.hard_limits(unlimited)["nproc"] is None


def test_containers_ask_for_no_more_than_this_process_has():
    assert engine.container_ulimits({"nofile": 20000, "nproc": 96555}) == [
        "nofile=20000:20000",
        f"nproc={engine.NPROC_CEILING}:{engine.NPROC_CEILING}",
    ]
    assert engine.container_ulimits({"nofile": 1024, "nproc": 512}) == [
        "nofile=1024:1024",
        "nproc=512:512",
    ]
    assert engine.container_ulimits({"nofile": None, "nproc": None})[0] == (
        f"nofile={engine.NOFILE_CEILING}:{engine.NOFILE_CEILING}"
    )


def test_podman_config_files_are_valid_toml_with_runc(tmp_path):
    podman = engine.Podman(work=tmp_path)
    containers = tomllib.loads(Path(podman.env["CONTAINERS_CONF"]).read_text())
    storage = tomllib.loads(Path(podman.env["CONTAINERS_STORAGE_CONF"]).read_text())

    assert containers["engine"]["runtime"] == "runc"
    assert all(
        re.fullmatch(r"(nofile|nproc)=\d+:\d+", u)
        for u in containers["containers"]["default_ulimits"]
    )
    assert storage["storage"]["driver"] == podman.driver
    assert storage["storage"]["graphroot"] == str(engine.GRAPH_ROOT)
    assert not Path(storage["storage"]["graphroot"]).is_relative_to(
        engine.ROOT
    )  # not in the build context


def test_the_storage_driver_can_be_chosen(monkeypatch):
    monkeypatch.setenv("CONTAINER_STORAGE_DRIVER", "vfs")
    assert engine.storage_driver() == "vfs"


# --- models, torch wheel, helper images --------------------------------------------------------


def demo_build(root: Path, state: str, roles=("bert", "gpt")) -> Path:
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "training.json").write_text(json.dumps({"state": state}))
    for role in roles:
        (root / "demo" / role).mkdir()
        (root / "demo" / role / "config.json").write_text("{}")
    return root


def test_only_a_finished_demo_build_counts(tmp_path):
    assert stack.demo_models_finished(demo_build(tmp_path / "a", "done"))
    assert not stack.demo_models_finished(demo_build(tmp_path / "b", "early"))
    assert not stack.demo_models_finished(demo_build(tmp_path / "c", "done", roles=("bert",)))
    assert not stack.demo_models_finished(tmp_path / "missing")
    (tmp_path / "d" / "demo").mkdir(parents=True)
    (tmp_path / "d" / "demo" / "training.json").write_text("not json")
    assert not stack.demo_models_finished(tmp_path / "d")


def test_models_plan(tmp_path):
    finished = demo_build(tmp_path / "done", "done")
    building = demo_build(tmp_path / "early", "early")
    work = tmp_path / "work"

    auto = stack.models_plan("auto", host_models=finished, work=work)
    assert (auto.profile, auto.directory, auto.build_in_stack) == ("demo", finished, False)
    fallback = stack.models_plan("auto", host_models=building, work=work)
    assert (fallback.profile, fallback.directory, fallback.build_in_stack) == (
        "tiny",
        work / "models",
        True,
    )
    assert stack.models_plan("tiny", host_models=finished, work=work).profile == "tiny"
    with pytest.raises(engine.EngineError, match="no finished demo build"):
        stack.models_plan("demo", host_models=building, work=work)
    with pytest.raises(engine.EngineError, match="auto, demo or tiny"):
        stack.models_plan("full", host_models=finished, work=work)


def test_the_stack_gets_nothing_else_from_this_machines_environment(tmp_path):
    plan = stack.ModelsPlan("tiny", tmp_path, build_in_stack=True)
    machine = {
        "PATH": "/usr/bin:/bin",
        "CONTAINERS_CONF": "/x/containers.conf",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        "DEMO_RATE_LIMIT_IP": "1/m",
    }
    env = stack.compose_env(machine, plan)

    assert env["PATH"] == "/usr/bin:/bin" and env["CONTAINERS_CONF"] == "/x/containers.conf"
    assert "DATABASE_URL" not in env and "DEMO_RATE_LIMIT_IP" not in env


def test_each_run_gets_fresh_secrets(tmp_path):
    plan = stack.ModelsPlan("tiny", tmp_path, build_in_stack=True)
    first, second = stack.compose_env({}, plan), stack.compose_env({}, plan)

    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert first[name] != second[name]
    assert len(first["SECRET_KEY"]) >= 50
    assert first["INFERENCE_PROFILE"] == "tiny"
    assert first["BERTGPT_IMAGE"] == images.APP_IMAGE
    assert first["TORCH_VARIANT"] == "cpu"


def test_the_torch_wheel_is_the_pinned_cpu_build(tmp_path):
    version = images.pinned_torch_version()
    wanted = tmp_path / f"torch-{version}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    (tmp_path / f"torch-{version}+cu128-cp311-cp311-manylinux_2_28_x86_64.whl").touch()
    (tmp_path / f"torch-{version}+cpu-cp312-cp312-manylinux_2_28_x86_64.whl").touch()

    with pytest.raises(engine.EngineError, match=re.escape(f"torch-{version}+cpu-cp311")):
        images.torch_wheel(tmp_path, version, "cpu")
    wanted.touch()
    assert images.torch_wheel(tmp_path, version, "cpu") == wanted
    assert f"torch=={version}" in (engine.ROOT / "requirements.txt").read_text().splitlines()


@pytest.mark.parametrize("name", sorted(images.HELPERS))
def test_helper_images_build_on_the_local_base_only(name):
    _, containerfile = images.HELPERS[name]
    instructions = dockerfile_instructions(images.HERE / containerfile)

    assert instructions[:2] == [("ARG", "BASE"), ("FROM", "${BASE}")]
    assert [key for key, _ in instructions].count("FROM") == 1


def test_the_python_base_puts_python_and_pip_first_on_path():
    """The Dockerfile runs `python` and `pip` as in the official image."""
    instructions = dockerfile_instructions(images.HERE / "python.Containerfile")
    env = " ".join(args for key, args in instructions if key == "ENV")
    runs = " ".join(args for key, args in instructions if key == "RUN")

    assert "python3 -m venv /opt/python" in runs
    assert re.search(r"PATH=/opt/python/bin:", env)
