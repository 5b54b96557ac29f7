"""A quiz question of a lesson file, parsed and checked: choices, accepted answers, and a
free-text question's references, key concepts (with their misconceptions) and graded examples.
"""

from __future__ import annotations

from typing import Any

from .schema import (
    CHOICE_KEYS,
    CONCEPT_KEYS,
    DEFAULT_MARGIN,
    DEFAULT_THRESHOLD,
    EXAMPLE_KEYS,
    EXAMPLE_LABELS,
    FREE_TEXT_KEYS,
    KINDS,
    MAX_CONCEPT_TEXTS,
    QUESTION_KEYS,
    _bool,
    _Problem,
    _slug,
    _text,
    _unknown_keys,
    normalise_text,
)

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
        if len(phrases) > MAX_CONCEPT_TEXTS:
            raise _Problem(f"{spot}: give at most {MAX_CONCEPT_TEXTS} `phrases`")
        concept = {"label": _text(item, "label", spot, max_length=200).strip(), "phrases": phrases}
        misconceptions = _text_list(
            item.get("misconceptions") or [], "misconceptions", spot, max_length=300
        )
        if len(misconceptions) > MAX_CONCEPT_TEXTS:
            raise _Problem(f"{spot}: give at most {MAX_CONCEPT_TEXTS} `misconceptions`")
        overlap = sorted(set(misconceptions) & set(phrases))
        if overlap:
            raise _Problem(f"{spot}: {overlap[0]!r} is both a phrase and a misconception")
        if misconceptions:  # only then in the canonical form: older hashes stay valid
            concept["misconceptions"] = misconceptions
        concepts.append(concept)
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
