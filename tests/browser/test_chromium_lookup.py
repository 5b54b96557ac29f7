"""Which chromium the browser tests launch, and the skip reason where there is none (not a
browser test: nothing is launched)."""

from __future__ import annotations

from .conftest import MISSING_CHROMIUM, chromium_executable


def test_chromium_path_wins_when_it_is_an_executable(monkeypatch, tmp_path):
    binary = tmp_path / "chrome"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("CHROMIUM_PATH", str(binary))
    assert chromium_executable() == str(binary)

    monkeypatch.setenv("CHROMIUM_PATH", str(tmp_path / "missing"))
    assert chromium_executable() is None  # set but wrong: not silently another one


def test_without_chromium_path_the_one_on_path_is_used(monkeypatch, tmp_path):
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert chromium_executable() == str(binary)


def test_the_skip_reason_says_what_to_install():
    assert "apt-get install chromium" in MISSING_CHROMIUM
    assert "CHROMIUM_PATH" in MISSING_CHROMIUM
