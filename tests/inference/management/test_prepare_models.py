"""`manage.py prepare_models`: what the stack's `models` service runs (docs/deploy.md)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.management.commands import prepare_models


@pytest.fixture
def calls(monkeypatch):
    """The commands prepare_models calls, recorded; download_models fails when told to."""
    made: list[str] = []
    failing: set[str] = set()

    def fake(name, *args, **kwargs):
        made.append(name)
        if name in failing:
            raise CommandError("Could not download bert-base-uncased from the Hub (offline)")

    monkeypatch.setattr(prepare_models, "call_command", fake)
    return made, failing


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("full", ["download_models"]),
        ("demo", ["build_demo_models"]),
        ("tiny", ["build_tiny_models"]),
        ("auto", ["download_models"]),
    ],
)
def test_each_profile_gets_its_models_its_own_way(settings, calls, profile, expected):
    settings.INFERENCE_PROFILE = profile
    call_command("prepare_models")
    assert calls[0] == expected


def test_auto_builds_the_demo_models_when_the_hub_cant_be_reached(settings, calls, capsys):
    made, failing = calls
    failing.add("download_models")
    settings.INFERENCE_PROFILE = "auto"
    call_command("prepare_models")
    assert made == ["download_models", "build_demo_models"]
    assert "building the demo models here instead" in capsys.readouterr().err


def test_full_without_the_hub_is_an_error_not_a_quiet_demo(settings, calls):
    made, failing = calls
    failing.add("download_models")
    settings.INFERENCE_PROFILE = "full"
    with pytest.raises(CommandError, match="Could not download"):
        call_command("prepare_models")
    assert made == ["download_models"]


def test_an_unknown_profile_is_named(settings, calls):
    settings.INFERENCE_PROFILE = "huge"
    with pytest.raises(CommandError, match="'huge' is not one of: full, demo, tiny, auto"):
        call_command("prepare_models")
