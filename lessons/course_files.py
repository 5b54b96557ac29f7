"""The course file format: parse and validate lesson files, and write them back.

Pure functions, no ORM (``lessons.loader`` does the database side). A lesson file
is YAML front matter + a Markdown body::

    ---
    slug: bert
    title: "BERT: a bidirectional encoder"
    section: Models
    order: 3
    duration: 14
    summary: One or two sentences.
    course: bert-vs-gpt
    quiz:
      title: "Check yourself: BERT"
      pass_mark: 70
      attempts_allowed: null        # null = unlimited
      score_policy: best            # best | last | first | average
      reveal_answers: true
      questions:
        - {key: k1, kind: single, prompt: ..., explanation: ..., choices: [{text, correct}]}
        - {key: k2, kind: multiple, partial_credit: true, ...choices}
        - {key: k3, kind: true_false, answer: true, feedback_true: ..., feedback_false: ...}
        - {key: k4, kind: short_text, accepted: ["[CLS]", "CLS"]}
        - key: k5
          kind: free_text               # explain in your words, graded by meaning
          threshold: 0.6                # similarity for full credit (default 0.6)
          margin: 0.2                   # credit reaches 0 this far below it (default 0.2)
          references: ["A model answer.", "Another way to say it."]
          concepts: [{label: "an idea it must contain", phrases: ["in other words", ...]}]
          examples: [{label: correct, text: ...}, {label: partial, ...}, {label: wrong, ...}]
    ---
    Markdown body

Everything is normalised into one *canonical* dict (``lesson_canonical_from_file``),
the same shape ``lessons.loader.lesson_canonical`` builds from the database, so
"is the file different from the database?" is a plain ``==``, and the hash of that
dict detects edits made in the admin since the last load. A true/false question is
canonically two choices, "True" then "False" (that is how it is stored); the file
form uses ``answer:`` and export writes it back that way. Only free_text questions carry
the keys ``threshold``, ``margin``, ``references``, ``concepts`` and ``examples`` in the
canonical form, so the hashes of lessons without such questions didn't change when the kind
was added.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

MAX_FILE_BYTES = 1024 * 1024
DEFAULT_COURSE_SLUG = "bert-vs-gpt"
DEFAULT_COURSE_TITLE = "BERT vs GPT, hands on"

KINDS = ("single", "multiple", "true_false", "short_text", "free_text")
FREE_TEXT_KEYS = ("threshold", "margin", "references", "concepts", "examples")
EXAMPLE_LABELS = ("correct", "partial", "wrong")
DEFAULT_THRESHOLD = 0.6
DEFAULT_MARGIN = 0.2
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
CONCEPT_KEYS = {"label", "phrases"}
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


# --- Parsing -------------------------------------------------------------------------------


def _choices(raw: Any, where: str, warnings: list[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise _Problem(f"{where}: `choices` must be a list of at least 2 choices")
    choices = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        spot = f"{where}, choice {index}"
        if not isinstance(item, dict):
            raise _Problem(f"{spot}: must be a mapping with `text`")
        _unknown_keys(item, CHOICE_KEYS, spot, warnings)
        text = _text(item, "text", spot, max_length=500)
        if text in seen:
            raise _Problem(f"{spot}: duplicate choice text {text!r}")
        seen.add(text)
        choices.append(
            {
                "text": text,
                "correct": _bool(item, "correct", spot, default=False),
                "feedback": _text(item, "feedback", spot, required=False),
            }
        )
    return choices


def _question(raw: Any, index: int, warnings: list[str]) -> dict[str, Any]:
    where = f"quiz question {index}"
    if not isinstance(raw, dict):
        raise _Problem(f"{where}: must be a mapping")
    key = _slug(raw.get("key"), f"{where} `key`", max_length=80)
    where = f"quiz question {index} ({key})"
    _unknown_keys(raw, QUESTION_KEYS, where, warnings)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _Problem(f"{where}: `kind` must be one of {', '.join(KINDS)} (got {kind!r})")
    question: dict[str, Any] = {
        "key": key,
        "kind": kind,
        "prompt": _text(raw, "prompt", where),
        "explanation": _text(raw, "explanation", where),
        "partial_credit": False,
        "choices": [],
        "accepted": [],
    }
    if "partial_credit" in raw and kind != "multiple":
        warnings.append(f"{where}: `partial_credit` only applies to multiple questions; ignored")
    if kind != "true_false":
        for extra in ("answer", "feedback_true", "feedback_false"):
            if extra in raw:
                raise _Problem(f"{where}: `{extra}` is only for true_false questions")
    if kind != "short_text" and "accepted" in raw:
        raise _Problem(f"{where}: `accepted` is only for short_text questions")
    if kind != "free_text":
        for extra in FREE_TEXT_KEYS:
            if extra in raw:
                raise _Problem(f"{where}: `{extra}` is only for free_text questions")

    if kind in ("single", "multiple"):
        choices = _choices(raw.get("choices"), where, warnings)
        correct = sum(choice["correct"] for choice in choices)
        if kind == "single" and correct != 1:
            raise _Problem(f"{where}: a single-choice question needs exactly one correct choice")
        if kind == "multiple" and correct < 1:
            raise _Problem(f"{where}: a multiple-select question needs at least one correct choice")
        if kind == "multiple":
            question["partial_credit"] = _bool(raw, "partial_credit", where, default=False)
        question["choices"] = choices
    elif kind == "true_false":
        if "choices" in raw:
            raise _Problem(f"{where}: true_false questions use `answer: true|false`, not choices")
        answer = raw.get("answer")
        if not isinstance(answer, bool):
            raise _Problem(f"{where}: `answer` must be true or false")
        question["choices"] = [
            {
                "text": "True",
                "correct": answer,
                "feedback": _text(raw, "feedback_true", where, required=False),
            },
            {
                "text": "False",
                "correct": not answer,
                "feedback": _text(raw, "feedback_false", where, required=False),
            },
        ]
    elif kind == "free_text":
        if "choices" in raw:
            raise _Problem(f"{where}: free_text questions use `references`, not choices")
        question.update(_free_text(raw, where, warnings))
    else:  # short_text
        if "choices" in raw:
            raise _Problem(f"{where}: short_text questions use `accepted`, not choices")
        accepted = raw.get("accepted")
        if isinstance(accepted, str | int | float) and not isinstance(accepted, bool):
            accepted = [accepted]
        if not isinstance(accepted, list) or not accepted:
            raise _Problem(f"{where}: a short_text question needs at least one `accepted` answer")
        texts = []
        for item in accepted:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise _Problem(f"{where}: accepted answers must be text (got {item!r})")
            text = str(item).strip()
            if not text or len(text) > 300:
                raise _Problem(f"{where}: accepted answers must be 1 to 300 characters")
            if text not in texts:
                texts.append(text)
        question["accepted"] = texts
    return question


def _unit_float(raw: dict, key: str, where: str, *, default: float, low: float) -> float:
    value = raw.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Problem(f"{where}: `{key}` must be a number between {low} and 1 (got {value!r})")
    if not low <= float(value) <= 1.0:
        raise _Problem(f"{where}: `{key}` must be between {low} and 1 (got {value})")
    return round(float(value), 3)


def _text_list(raw: Any, what: str, where: str, *, max_length: int) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise _Problem(f"{where}: `{what}` must be a list of texts")
    texts: list[str] = []
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise _Problem(f"{where}: `{what}` must hold texts (got {item!r})")
        text = normalise_text(str(item)).strip()
        if not text or len(text) > max_length:
            raise _Problem(f"{where}: each of `{what}` must be 1 to {max_length} characters")
        if text not in texts:
            texts.append(text)
    return texts


def _free_text(raw: dict, where: str, warnings: list[str]) -> dict[str, Any]:
    """threshold, margin, references, concepts and examples of a free_text question."""
    references = _text_list(raw.get("references") or [], "references", where, max_length=2000)
    if not references:
        raise _Problem(f"{where}: a free_text question needs at least one of `references`")
    concepts = []
    raw_concepts = raw.get("concepts") or []
    if not isinstance(raw_concepts, list):
        raise _Problem(f"{where}: `concepts` must be a list of {{label, phrases}}")
    for index, item in enumerate(raw_concepts, start=1):
        spot = f"{where}, concept {index}"
        if not isinstance(item, dict):
            raise _Problem(f"{spot}: must be a mapping with `label` and `phrases`")
        _unknown_keys(item, CONCEPT_KEYS, spot, warnings)
        phrases = _text_list(item.get("phrases") or [], "phrases", spot, max_length=300)
        if not phrases:
            raise _Problem(f"{spot}: give at least one of `phrases`")
        concepts.append(
            {"label": _text(item, "label", spot, max_length=200).strip(), "phrases": phrases}
        )
    examples = []
    raw_examples = raw.get("examples") or []
    if not isinstance(raw_examples, list):
        raise _Problem(f"{where}: `examples` must be a list of {{label, text}}")
    for index, item in enumerate(raw_examples, start=1):
        spot = f"{where}, example {index}"
        if not isinstance(item, dict):
            raise _Problem(f"{spot}: must be a mapping with `label` and `text`")
        _unknown_keys(item, EXAMPLE_KEYS, spot, warnings)
        label = item.get("label")
        if label not in EXAMPLE_LABELS:
            raise _Problem(f"{spot}: `label` must be one of {', '.join(EXAMPLE_LABELS)}")
        examples.append({"label": label, "text": _text(item, "text", spot).strip()})
    return {
        "threshold": _unit_float(raw, "threshold", where, default=DEFAULT_THRESHOLD, low=0.0),
        "margin": _unit_float(raw, "margin", where, default=DEFAULT_MARGIN, low=0.01),
        "references": references,
        "concepts": concepts,
        "examples": examples,
    }


def _quiz(raw: Any, warnings: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _Problem("`quiz` must be a mapping")
    _unknown_keys(raw, QUIZ_KEYS, "quiz", warnings)
    attempts = raw.get("attempts_allowed")
    if attempts is not None:
        attempts = _int(raw, "attempts_allowed", "quiz", minimum=1, maximum=1000)
    policy = raw.get("score_policy", "best")
    if policy not in SCORE_POLICIES:
        raise _Problem(
            f"quiz: `score_policy` must be one of {', '.join(SCORE_POLICIES)} (got {policy!r})"
        )
    questions_raw = raw.get("questions")
    if not isinstance(questions_raw, list) or not questions_raw:
        raise _Problem("quiz: `questions` must be a non-empty list")
    questions = [_question(item, i, warnings) for i, item in enumerate(questions_raw, start=1)]
    keys = [question["key"] for question in questions]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise _Problem(f"quiz: duplicate question key(s): {', '.join(duplicates)}")
    return {
        "title": _text(raw, "title", "quiz", max_length=200),
        "pass_mark": _int(raw, "pass_mark", "quiz", default=70, minimum=0, maximum=100),
        "attempts_allowed": attempts,
        "score_policy": policy,
        "reveal_answers": _bool(raw, "reveal_answers", "quiz", default=True),
        "questions": questions,
    }


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


def parse_lesson_text(text: str, *, path: Path | str = "<text>") -> ParsedLesson:
    """Parse and validate one lesson file's text; raises ``CourseFileError``."""
    path = Path(path)
    text = text.lstrip("\ufeff")
    if not text.startswith("---"):
        raise CourseFileError(path, "no YAML front matter (the file must start with `---`)")
    if "\x00" in text:
        raise CourseFileError(path, "the file contains NUL characters; is it really a text file?")
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise CourseFileError(path, f"front matter is not valid YAML{where}: {problem}") from exc
    except (ValueError, TypeError, AttributeError) as exc:
        raise CourseFileError(path, "front matter must be a YAML mapping of keys") from exc
    meta = dict(post.metadata)
    if _holds_nul(meta) or "\x00" in post.content:
        # YAML escapes ("\0") decode to NUL; PostgreSQL refuses NUL in text columns.
        raise CourseFileError(path, "the file contains NUL characters, which no field may hold")
    warnings: list[str] = []
    try:
        if not meta:
            # python-frontmatter silently drops front matter that isn't a mapping.
            try:
                raw = yaml.safe_load(YAMLHandler().split(text)[0])
            except (ValueError, yaml.YAMLError) as exc:
                raise _Problem(
                    "front matter is not closed by a `---` line, or is not valid YAML"
                ) from exc
            if raw is not None and not isinstance(raw, dict):
                raise _Problem("front matter must be a YAML mapping of keys")
            raise _Problem("front matter is empty")
        _unknown_keys(meta, LESSON_KEYS, "front matter", warnings)
        course = meta.get("course", DEFAULT_COURSE_SLUG)
        data = {
            "slug": _slug(meta.get("slug"), "`slug`", max_length=50),
            "title": _text(meta, "title", "front matter", max_length=200),
            "section": _text(meta, "section", "front matter", max_length=100),
            "order": _int(meta, "order", "front matter", maximum=100_000),
            "duration": _int(meta, "duration", "front matter", minimum=1, maximum=600),
            "summary": _text(meta, "summary", "front matter", required=False),
            "course": _slug(course, "`course`", max_length=50),
            "body": normalise_body(post.content),
            "quiz": _quiz(meta["quiz"], warnings) if meta.get("quiz") is not None else None,
        }
    except _Problem as exc:
        raise CourseFileError(path, str(exc)) from exc
    if not data["body"]:
        raise CourseFileError(path, "the Markdown body is empty")
    return ParsedLesson(
        path=path, data=data, warnings=[f"{path.name}: {warning}" for warning in warnings]
    )


def parse_lesson_file(path: Path) -> ParsedLesson:
    """Read, size-check and parse one lesson file; raises ``CourseFileError``."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CourseFileError(path, f"can't be read ({exc.strerror})") from exc
    if size > MAX_FILE_BYTES:
        raise CourseFileError(
            path, f"is {size:,} bytes; lesson files are limited to {MAX_FILE_BYTES:,} bytes"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CourseFileError(path, "is not valid UTF-8 text") from exc
    except OSError as exc:
        raise CourseFileError(path, f"can't be read ({exc.strerror})") from exc
    return parse_lesson_text(text, path=path)


def lesson_files(directory: Path) -> list[Path]:
    """The lesson files in ``directory``: ``*.md``, not README.md, not hidden or ``_``-prefixed."""
    return sorted(
        path
        for path in directory.glob("*.md")
        if path.is_file()
        and path.name.lower() != "readme.md"
        and not path.name.startswith((".", "_"))
    )


# --- Writing -----------------------------------------------------------------------------


def _question_to_file(question: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"key": question["key"], "kind": question["kind"]}
    if question["kind"] == "multiple":
        out["partial_credit"] = question["partial_credit"]
    out["prompt"] = question["prompt"]
    out["explanation"] = question["explanation"]
    if question["kind"] == "true_false":
        by_text = {choice["text"]: choice for choice in question["choices"]}
        out["answer"] = bool(by_text.get("True", {}).get("correct"))
        for label, key in (("True", "feedback_true"), ("False", "feedback_false")):
            if by_text.get(label, {}).get("feedback"):
                out[key] = by_text[label]["feedback"]
    elif question["kind"] == "short_text":
        out["accepted"] = list(question["accepted"])
    elif question["kind"] == "free_text":
        out["threshold"] = question["threshold"]
        out["margin"] = question["margin"]
        out["references"] = list(question["references"])
        if question["concepts"]:
            out["concepts"] = [
                {"label": c["label"], "phrases": list(c["phrases"])} for c in question["concepts"]
            ]
        if question["examples"]:
            out["examples"] = [
                {"label": e["label"], "text": e["text"]} for e in question["examples"]
            ]
    else:
        choices = []
        for choice in question["choices"]:
            item: dict[str, Any] = {"text": choice["text"]}
            if choice["correct"]:
                item["correct"] = True
            if choice["feedback"]:
                item["feedback"] = choice["feedback"]
            choices.append(item)
        out["choices"] = choices
    return out


def lesson_file_text(data: dict[str, Any]) -> str:
    """The file text for a canonical lesson dict (inverse of ``parse_lesson_text``)."""
    meta: dict[str, Any] = {
        "slug": data["slug"],
        "title": data["title"],
        "section": data["section"],
        "order": data["order"],
        "duration": data["duration"],
        "summary": data["summary"],
        "course": data["course"],
    }
    quiz = data.get("quiz")
    if quiz is not None:
        meta["quiz"] = {
            "title": quiz["title"],
            "pass_mark": quiz["pass_mark"],
            "attempts_allowed": quiz["attempts_allowed"],
            "score_policy": quiz["score_policy"],
            "reveal_answers": quiz["reveal_answers"],
            "questions": [_question_to_file(question) for question in quiz["questions"]],
        }
    front = yaml.safe_dump(
        meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    return f"---\n{front}---\n\n{data['body']}"


def lesson_file_name(data: dict[str, Any]) -> str:
    return f"{data['order']:02d}-{data['slug']}.md"
