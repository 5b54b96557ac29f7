"""Reading lesson files: front matter and body into one canonical, checked lesson."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from .questions import _question
from .schema import (
    DEFAULT_COURSE_SLUG,
    LESSON_KEYS,
    MAX_FILE_BYTES,
    QUIZ_KEYS,
    SCORE_POLICIES,
    CourseFileError,
    ParsedLesson,
    _bool,
    _int,
    _Problem,
    _slug,
    _text,
    _unknown_keys,
    normalise_body,
)


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
