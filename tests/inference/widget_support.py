"""Helpers for the widget tests: stored examples recorded on the tiny models, HTML checks.

``recorded_examples_dir`` runs ``manage.py record_examples`` once per test session on the
``tiny`` profile (the real engine functions on random-weight models, in this process), so
the pages under test show real stored results, never hand-written ones.
``serve_demo_build`` writes the ``training.json`` that names the demo build being served,
and ``SHIPPED_DEMO`` is the committed demo examples file (real demo-model outputs, recorded
before files named their build).
"""

from __future__ import annotations

import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.management import call_command

_RECORDED: dict[Path, Path] = {}
SHIPPED_DEMO = (
    Path(__file__).resolve().parents[2] / "inference" / "contract" / "examples" / "demo.json"
)


def serve_demo_build(
    models_dir: Path, release: str | None, *, when: int = 1, built_at: float = 1.8e9
) -> None:
    """``MODELS_DIR/demo/training.json`` as the build writes it, naming ``release`` (None:
    an older build's record, without a release). ``when`` is its modification time in ns:
    a rewrite within one clock tick could otherwise keep the old one."""
    record: dict = {"state": "done", "built_at": built_at, "models": {}}
    if release is not None:
        record["release"] = {"id": release, "stage": "final", "published_at": built_at}
    path = models_dir / "demo" / "training.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    os.utime(path, ns=(when, when))


def shipped_demo_examples() -> list:
    """The committed demo examples (as read from the file, not marked in any way)."""
    from inference.contract.examples import _read

    return _read(str(SHIPPED_DEMO), SHIPPED_DEMO.stat().st_mtime_ns).examples


def recorded_examples_dir(models_dir: Path, out: Path) -> Path:
    """``out`` holding ``tiny.json`` recorded from the tiny models in ``models_dir``."""
    if models_dir not in _RECORDED:
        call_command(
            "record_examples",
            "--profile",
            "tiny",
            "--models-dir",
            str(models_dir),
            "--output",
            str(out),
            "--device",
            "cpu",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        _RECORDED[models_dir] = out
    return _RECORDED[models_dir]


@pytest.fixture
def stored_examples(settings, tiny_models_dir, tmp_path_factory):
    """The tiny profile's recorded examples, served as the site's stored examples."""
    from inference.contract.examples import example_set

    out = recorded_examples_dir(tiny_models_dir, tmp_path_factory.mktemp("examples"))
    settings.DEMO_EXAMPLES_DIR = out
    settings.INFERENCE_PROFILE = "tiny"
    loaded = example_set()
    assert loaded is not None and loaded.profile == "tiny"
    return loaded


class InlineCode(HTMLParser):
    """Collects what a strict CSP (script-src 'self'; style-src 'self') would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._script = False

    def handle_starttag(self, tag, attrs):
        names = {name.lower() for name, _ in attrs}
        if tag == "script":
            self._script = True
            if "src" not in names:
                self.problems.append("<script> without src")
        if tag == "style":
            self.problems.append("<style> element")
        for name in names:
            if name == "style" or name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"<{tag} {name}=…>")
        for name, value in attrs:
            if value and re.match(r"\s*javascript:", value, re.I):
                self.problems.append(f"<{tag} {name}=javascript:…>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = False

    def handle_data(self, data):
        if self._script and data.strip():
            self.problems.append("inline script body")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.problems
