"""Stored example results: real outputs of the demo engines, kept next to the code.

``manage.py record_examples`` runs the engine functions in-process on a profile's models
(never hand-written numbers) for every input in ``inference.contract.examples.inputs`` (the
playground's ready examples, each demo form's defaults and every demo block in the
lessons) and writes ``<DEMO_EXAMPLES_DIR>/<profile>.json``; the demo build records its own
into ``MODELS_DIR/demo/examples.json`` (``recording.record_to_file``). Pages show these
results before a worker answers, or when none runs, always marked as stored and naming the
model that produced them.

Each file's header names the build it was recorded with (``builds``). For the demo profile
the build's own file is preferred over the shipped ``inference/contract/examples/demo.json``, and a
file recorded with another build than the one being served is shown marked as such
(``earlier_build``): the demo models change at every publish, so its answers may not be
what a run gives now.

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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from inference.contract import kinds
from inference.contract.examples.builds import clean_build, served_demo_build_id
from inference.contract.registry import models_dir
from inference.contract.validation import DemoInputError

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
    # Set when shown: recorded with another demo build than the one being served.
    earlier_build: bool = False

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
            return names[0] if names else _("an unknown model")
        return _("%(names)s and %(last)s") % {
            "names": pgettext("list separator", ", ").join(names[:-1]),
            "last": names[-1],
        }

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
    build: dict[str, Any] | None = None  # the header: {"id", "stage", "published_at"}
    # Set when shown: recorded with another demo build than the one being served.
    earlier_build: bool = False

    @property
    def build_id(self) -> str | None:
        return self.build["id"] if self.build else None

    def by_id(self) -> dict[str, StoredExample]:
        return {example.id: example for example in self.examples}


def examples_dir() -> Path:
    return Path(settings.DEMO_EXAMPLES_DIR or PACKAGE_DIR)


def examples_path(profile: str, directory: Path | None = None) -> Path:
    return (directory or examples_dir()) / f"{profile}.json"


def build_examples_path(base: Path | None = None) -> Path:
    """Where the demo build writes the examples it records: ``MODELS_DIR/demo/examples.json``."""
    return (base or models_dir()) / "demo" / "examples.json"


def _example_from_json(data: dict, profile: str) -> StoredExample | None:
    try:
        kind = str(data["kind"])
        params = dict(data["params"])
        result = dict(data["result"])
        if kinds.get(kind) is None:
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
    build = clean_build(data.get("build")) if isinstance(data.get("build"), dict) else None
    return ExampleSet(profile=profile, path=Path(path), examples=examples, build=build)


@functools.lru_cache(maxsize=8)
def _read_as_earlier_build(path: str, mtime_ns: int) -> ExampleSet | None:
    loaded = _read(path, mtime_ns)
    if loaded is None:
        return None
    examples = [replace(example, earlier_build=True) for example in loaded.examples]
    return replace(loaded, examples=examples, earlier_build=True)


def _profile_order() -> list[str]:
    from inference.contract.registry import active_profile_name

    try:
        active = active_profile_name()
    except Exception:  # misconfigured profile: fall back to the shipped files
        active = "demo"
    order = [active]
    for profile in ("demo", "full"):
        if profile not in order:
            order.append(profile)
    return order


def _candidate_paths(profile: str) -> list[Path]:
    """The files that can hold ``profile``'s examples, preferred first."""
    if profile == "demo":
        return [build_examples_path(), examples_path(profile)]
    return [examples_path(profile)]


def _load(path: Path) -> tuple[ExampleSet, int] | None:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    loaded = _read(str(path), mtime)
    return (loaded, mtime) if loaded is not None and loaded.examples else None


ExampleSetVersion = tuple[str, int, str]


def _active_set() -> tuple[ExampleSet | None, ExampleSetVersion | None]:
    order = _profile_order()
    # Only the demo profile's models are rebuilt here, and only when they serve the demos
    # does a file recorded with another build contradict what a run gives.
    served = served_demo_build_id() if order[0] == "demo" else None
    for profile in order:
        found = [hit for path in _candidate_paths(profile) if (hit := _load(path))]
        if not found:
            continue
        if profile != "demo" or served is None:
            loaded, mtime = found[0]
            return loaded, (str(loaded.path), mtime, "")
        # The file recorded with the served build, else the build's own (newest) file.
        loaded, mtime = next((hit for hit in found if hit[0].build_id == served), found[0])
        if loaded.build_id != served:
            loaded = _read_as_earlier_build(str(loaded.path), mtime) or loaded
        return loaded, (str(loaded.path), mtime, served)
    return None, None


def example_set() -> ExampleSet | None:
    """The stored examples for the active profile, else the demo, else the full profile's.

    For the demo profile, ``MODELS_DIR/demo/examples.json`` (the build's) comes before the
    shipped file, unless only the shipped one was recorded with the served build. A set
    recorded with another demo build than the served one has ``earlier_build`` set, on the
    set and on each of its examples.
    """
    return _active_set()[0]


def example_set_version() -> ExampleSetVersion | None:
    """What pages show now: (the examples file, its modification time, the served demo
    build's id when it decides how the file is labelled, else ""); a cache-key part for
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
        cleaned = kinds.validate(kind, params)
    except DemoInputError:
        return None
    return example_get(example_id(kind, cleaned))


# --- Writing ------------------------------------------------------------------------------


def write_example_set(
    path: Path,
    *,
    profile: str,
    examples: Iterable[StoredExample],
    build: dict[str, Any] | None = None,
) -> None:
    """Write atomically, one example per line (readable diffs when re-recorded).

    ``build`` names the models' build in the header (``{"id", "stage", "published_at"}``
    or ``"built_at"``; see ``inference.contract.examples.builds.demo_build``).
    """
    header_data: dict[str, Any] = {"format": FORMAT, "profile": profile}
    if build is not None:
        cleaned = clean_build(build)
        if cleaned is None:
            raise ValueError("An examples file's build needs an id.")
        header_data["build"] = cleaned
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(example.as_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        for example in examples
    ]
    header = json.dumps(header_data, separators=(",", ":"), allow_nan=False)[:-1]
    text = header + ',"examples":[\n' + ",\n".join(lines) + "\n]}\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
