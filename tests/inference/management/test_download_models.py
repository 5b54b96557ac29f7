from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.contract import registry

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def fake_hub(monkeypatch):
    """Record snapshot_download calls and write a minimal model where it was asked to."""
    import huggingface_hub

    calls = []

    def snapshot_download(*, repo_id, revision, local_dir, allow_patterns):
        calls.append({"repo_id": repo_id, "revision": revision, "local_dir": Path(local_dir)})
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        (Path(local_dir) / "config.json").write_text("{}")
        (Path(local_dir) / "model.safetensors").write_bytes(b"weights")
        assert "model.safetensors" in allow_patterns
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "model_info", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return calls


def test_downloads_the_three_pinned_models_into_full(fake_hub, tmp_path):
    call_command("download_models", "--dir", str(tmp_path))

    assert [(c["repo_id"], c["revision"]) for c in fake_hub] == [
        (repo_id, revision) for _, repo_id, revision in registry.FULL_MODELS.values()
    ]
    for name, _, _ in registry.FULL_MODELS.values():
        assert registry.is_model_dir(tmp_path / "full" / name)
        assert not (tmp_path / "full" / f"{name}.partial").exists()
    assert registry.full_models_present(tmp_path)


def test_present_models_are_skipped_unless_forced(fake_hub, tmp_path):
    call_command("download_models", "--dir", str(tmp_path))
    call_command("download_models", "--dir", str(tmp_path))
    assert len(fake_hub) == 3
    call_command("download_models", "--dir", str(tmp_path), "--force")
    assert len(fake_hub) == 6


@pytest.mark.parametrize(
    ("profile", "command"), [("demo", "build_demo_models"), ("tiny", "build_tiny_models")]
)
def test_other_profiles_point_to_their_build_command(tmp_path, profile, command):
    with pytest.raises(CommandError, match=command):
        call_command("download_models", "--profile", profile, "--dir", str(tmp_path))


def test_offline_mode_is_refused_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CommandError, match="HF_HUB_OFFLINE"):
        call_command("download_models", "--dir", str(tmp_path))


def test_unreachable_hub_fails_fast_with_a_clear_message_and_no_traceback(tmp_path):
    env = {
        **os.environ,
        "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens on the discard port
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    env.pop("HF_HUB_OFFLINE", None)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "manage.py", "download_models", "--dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Could not download google-bert/bert-base-uncased" in proc.stderr
    assert "http://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 30
    assert not registry.is_model_dir(tmp_path / "full" / "bert-base-uncased")


def test_build_tiny_models_command(tmp_path, capsys):
    call_command("build_tiny_models", "--dir", str(tmp_path))
    for role in ("bert", "gpt", "encoder"):
        assert registry.is_model_dir(tmp_path / "tiny" / role)
    assert "Tiny models built" in capsys.readouterr().out
