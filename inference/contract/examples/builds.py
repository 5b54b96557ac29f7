"""Which build of the models an examples file was recorded with, and which one is served.

An examples file's header names its build: ``"build": {"id", "stage", "published_at"}``
(``"built_at"`` for records from before releases). The demo build
(``manage.py build_demo_models``) names the build it serves in
``MODELS_DIR/demo/training.json``: ``"release": {"id", "stage", "published_at"}``, a new id
at every publish. A record without a release (an older build) counts as the build
``str(built_at)`` (``inference.contract.registry.demo_release`` reads it).

No torch here: the web process reads these files on every page that shows examples.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inference.contract.registry import demo_release, models_dir


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def clean_build(build: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The header's keys of ``build`` (id as a string); None without an id."""
    if not isinstance(build, Mapping) or build.get("id") in (None, ""):
        return None
    cleaned: dict[str, Any] = {"id": str(build["id"])}
    if build.get("stage"):
        cleaned["stage"] = str(build["stage"])
    for key in ("published_at", "built_at"):
        if (value := _number(build.get(key))) is not None:
            cleaned[key] = value
    return cleaned


def training_json_path(base: Path | None = None) -> Path:
    return (base or models_dir()) / "demo" / "training.json"


@functools.lru_cache(maxsize=4)
def _release_at(base: str, mtime_ns: int) -> dict[str, Any] | None:
    # mtime_ns is part of the key only: a newly published build is read anew
    return demo_release(Path(base))


def _demo_release(base: Path | None = None) -> dict[str, Any] | None:
    """``inference.contract.registry.demo_release`` (``id``, ``stage``, ``published_at``, ``state``;
    ``built_at`` when the record has one), read once per version of training.json: pages
    ask for it for every stored example they look up, and the record holds the loss curves.
    """
    base = base or models_dir()
    try:
        mtime = training_json_path(base).stat().st_mtime_ns
    except OSError:
        return None
    found = _release_at(str(base), mtime)
    return dict(found) if found is not None else None


def demo_build(base: Path | None = None) -> dict[str, Any] | None:
    """The header for examples recorded on the demo build being served now (None when no
    demo build is there)."""
    return clean_build(_demo_release(base))


def served_demo_build_id(base: Path | None = None) -> str | None:
    release = _demo_release(base)
    return release["id"] if release else None
