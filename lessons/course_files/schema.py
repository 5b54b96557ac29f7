"""The course file format's keys and limits, its canonical form, and the checks every
part of a lesson file shares.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1024 * 1024
DEFAULT_COURSE_SLUG = "bert-vs-gpt"
DEFAULT_COURSE_TITLE = "BERT vs GPT, hands on"

KINDS = ("single", "multiple", "true_false", "short_text", "free_text")
FREE_TEXT_KEYS = ("threshold", "margin", "references", "concepts", "examples")
EXAMPLE_LABELS = ("correct", "partial", "wrong")
DEFAULT_THRESHOLD = 0.6
DEFAULT_MARGIN = 0.2
MAX_CONCEPT_TEXTS = 20  # phrases, and misconceptions, per key concept (the grading task's limit)
SCORE_POLICIES = ("best", "last", "first", "average")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

LESSON_KEYS = {"slug", "title", "section", "order", "duration", "summary", "course", "quiz"}
QUIZ_KEYS = {
    "title",
    "pass_mark",
    "attempts_allowed",
    "score_policy",
    "reveal_answers",
    "questions",
}
QUESTION_KEYS = {
    "key", "kind", "prompt", "explanation", "partial_credit", "choices", "answer",
    "feedback_true", "feedback_false", "accepted", *FREE_TEXT_KEYS,
}  # fmt: skip
CHOICE_KEYS = {"text", "correct", "feedback"}
CONCEPT_KEYS = {"label", "phrases", "misconceptions"}
EXAMPLE_KEYS = {"label", "text"}


class CourseFileError(Exception):
    """A lesson file that can't be loaded; ``str()`` names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


@dataclass
class ParsedLesson:
    path: Path
    data: dict[str, Any]  # canonical form
    warnings: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.data["slug"]


# --- Canonical form ----------------------------------------------------------------------


def normalise_text(value: str) -> str:
    """Line endings as ``\\n`` (browsers post textareas with CRLF)."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def normalise_body(value: str) -> str:
    return normalise_text(value).strip("\n").rstrip() + "\n" if value.strip() else ""


def canonical_hash(data: dict[str, Any]) -> str:
    """sha256 of the canonical dict as sorted-key JSON."""
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- Validation helpers ------------------------------------------------------------------


class _Problem(Exception):
    pass


def _text(
    mapping: dict, key: str, where: str, *, required: bool = True, max_length: int | None = None
) -> str:
    value = mapping.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _Problem(f"{where}: `{key}` is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Problem(f"{where}: `{key}` must be text")
    value = normalise_text(str(value))
    if max_length is not None and len(value) > max_length:
        raise _Problem(f"{where}: `{key}` is longer than {max_length} characters")
    return value


def _int(
    mapping: dict,
    key: str,
    where: str,
    *,
    default: int | None = None,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    value = mapping.get(key, default)
    if value is None:
        raise _Problem(f"{where}: `{key}` is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Problem(f"{where}: `{key}` must be a whole number (got {value!r})")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _Problem(f"{where}: `{key}` must be {bounds} (got {value})")
    return value


def _bool(mapping: dict, key: str, where: str, *, default: bool) -> bool:
    value = mapping.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _Problem(f"{where}: `{key}` must be true or false (got {value!r})")
    return value


def _slug(value: Any, where: str, *, max_length: int) -> str:
    if not isinstance(value, str) or not SLUG_RE.match(value) or len(value) > max_length:
        raise _Problem(
            f"{where}: {value!r} is not a valid slug "
            f"(lowercase letters, digits and single hyphens, at most {max_length} characters)"
        )
    return value


def _unknown_keys(mapping: dict, allowed: set[str], where: str, warnings: list[str]) -> None:
    for key in sorted(set(mapping) - allowed, key=str):
        warnings.append(f"{where}: unknown key `{key}` ignored")
