"""Stored example results: real outputs of the demo engines, kept next to the code.

``manage.py record_examples`` runs the engine functions in-process on a profile's models
(never hand-written numbers) for every input in ``inference.examples.inputs`` (the
playground's ready examples, each demo form's defaults and every demo block in the
lessons) and writes ``<DEMO_EXAMPLES_DIR>/<profile>.json``. Pages show these results
before a worker answers, or when none runs, always marked as stored and naming the model
that produced them.

No torch here: the web process reads the files. Reading never fails a page: a missing or
unreadable file simply means there are no stored examples.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from inference.validation import KINDS, DemoInputError, validate

logger = logging.getLogger(__name__)

FORMAT = 1
PACKAGE_DIR = Path(__file__).resolve().parent
_ID_RE = re.compile(r"^[a-z][a-z-]{0,20}-[0-9a-f]{10}$")


def canonical(kind: str, params: dict[str, Any]) -> str:
    return json.dumps(
        {"kind": kind, "params": params}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def example_id(kind: str, params: dict[str, Any]) -> str:
    """A stable, URL-safe id for validated ``params`` of ``kind``."""
    digest = hashlib.sha256(canonical(kind, params).encode()).hexdigest()[:10]
    return f"{kind}-{digest}"


def is_example_id(value: str) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))


# --- Stored examples --------------------------------------------------------------------


@dataclass(frozen=True)
class StoredExample:
    id: str
    kind: str
    title: str
    params: dict[str, Any]
    result: dict[str, Any]
    recorded_at: float
    profile: str
    sources: tuple[str, ...] = ()
    logits: str | None = None  # next-token: base64 of the float32 logits vector
    vocab: tuple[tuple[int, str], ...] = ()

    @property
    def recorded(self) -> datetime:
        return datetime.fromtimestamp(self.recorded_at, tz=UTC)

    @property
    def model_names(self) -> str:
        """ "demo BERT (trained here)" or "demo BERT … and demo GPT …" for two-model demos."""
        names = []
        if isinstance(self.result.get("model"), dict):
            names.append(str(self.result["model"].get("name", "")))
        for role in ("bert", "gpt", "encoder"):
            card = (self.result.get("models") or {}).get(role)
            if isinstance(card, dict) and card.get("name") not in names:
                names.append(str(card.get("name", "")))
        names = [name for name in names if name]
        if len(names) <= 1:
            return names[0] if names else "an unknown model"
        return ", ".join(names[:-1]) + " and " + names[-1]

    def logits_bytes(self) -> bytes | None:
        if not self.logits:
            return None
        try:
            return base64.b64decode(self.logits, validate=True)
        except ValueError:
            return None

    def vocab_map(self) -> dict[int, str]:
        return {int(token_id): str(token) for token_id, token in self.vocab}

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "sources": list(self.sources),
            "params": self.params,
            "recorded_at": round(self.recorded_at, 3),
            "profile": self.profile,
            "result": self.result,
        }
        if self.logits:
            data["logits"] = self.logits
            data["vocab"] = [list(pair) for pair in self.vocab]
        return data


@dataclass
class ExampleSet:
    profile: str
    path: Path | None
    examples: list[StoredExample] = field(default_factory=list)

    def by_id(self) -> dict[str, StoredExample]:
        return {example.id: example for example in self.examples}


def examples_dir() -> Path:
    return Path(getattr(settings, "DEMO_EXAMPLES_DIR", None) or PACKAGE_DIR)


def examples_path(profile: str, directory: Path | None = None) -> Path:
    return (directory or examples_dir()) / f"{profile}.json"


def _example_from_json(data: dict, profile: str) -> StoredExample | None:
    try:
        kind = str(data["kind"])
        params = dict(data["params"])
        result = dict(data["result"])
        if kind not in KINDS:
            return None
        vocab = tuple((int(pair[0]), str(pair[1])) for pair in data.get("vocab") or ())
        return StoredExample(
            id=str(data.get("id") or example_id(kind, params)),
            kind=kind,
            title=str(data.get("title") or kind),
            params=params,
            result=result,
            recorded_at=float(data.get("recorded_at") or 0.0),
            profile=str(data.get("profile") or profile),
            sources=tuple(str(s) for s in data.get("sources") or ()),
            logits=data.get("logits") if isinstance(data.get("logits"), str) else None,
            vocab=vocab,
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return None


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int) -> ExampleSet | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("Stored examples at %s are unreadable", path)
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    profile = str(data.get("profile") or Path(path).stem)
    examples = [
        example
        for item in data.get("examples") or []
        if isinstance(item, dict) and (example := _example_from_json(item, profile))
    ]
    return ExampleSet(profile=profile, path=Path(path), examples=examples)


def _profile_order() -> list[str]:
    from inference.registry import active_profile_name

    try:
        active = active_profile_name()
    except Exception:  # misconfigured profile: fall back to the shipped files
        active = "demo"
    order = [active]
    for profile in ("demo", "full"):
        if profile not in order:
            order.append(profile)
    return order


def _active_set() -> tuple[ExampleSet | None, tuple[str, int] | None]:
    for profile in _profile_order():
        path = examples_path(profile)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            continue
        loaded = _read(str(path), mtime)
        if loaded is not None and loaded.examples:
            return loaded, (str(path), mtime)
    return None, None


def example_set() -> ExampleSet | None:
    """The stored examples for the active profile, else the demo, else the full profile's."""
    return _active_set()[0]


def example_set_version() -> tuple[str, int] | None:
    """Which examples file (path, modification time) pages show now: a cache-key part for
    anything rendered from stored examples."""
    return _active_set()[1]


def stored_examples(kind: str | None = None) -> list[StoredExample]:
    loaded = example_set()
    if loaded is None:
        return []
    return [e for e in loaded.examples if kind is None or e.kind == kind]


def playground_examples(kind: str) -> list[StoredExample]:
    """The ready examples of ``kind`` shown as chips: the catalogue's, in catalogue order."""
    examples = stored_examples(kind)
    return [e for e in examples if "playground" in e.sources] or examples[:4]


def example_get(example: str) -> StoredExample | None:
    if not is_example_id(example):
        return None
    loaded = example_set()
    return loaded.by_id().get(example) if loaded else None


def example_for_params(kind: str, params: dict[str, Any]) -> StoredExample | None:
    """The stored example for exactly these inputs (after validation), if there is one."""
    try:
        cleaned = validate(kind, params)
    except DemoInputError:
        return None
    return example_get(example_id(kind, cleaned))


# --- Writing ------------------------------------------------------------------------------


def write_example_set(path: Path, *, profile: str, examples: Iterable[StoredExample]) -> None:
    """Write atomically, one example per line (readable diffs when re-recorded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(example.as_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        for example in examples
    ]
    header = json.dumps({"format": FORMAT, "profile": profile}, separators=(",", ":"))[:-1]
    text = header + ',"examples":[\n' + ",\n".join(lines) + "\n]}\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
