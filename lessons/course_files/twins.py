"""A lesson's translation ("twin"): the same lesson in another language, checked against the
English file it translates.

A twin lives in ``lessons/content/<language>/`` under the English file's name and is a whole
lesson file in the same format. What a learner reads is translated (titles, summary, body,
prompts, explanations, choices and feedback, model answers, concept labels); what decides
identity and grading is not: the slug, order, course and quiz settings, every question's key,
kind and order, which choices are right, the true/false answer, and the free-text grader's
threshold, margin, phrases and examples (the shipped encoder reads English, so those stay
English). Short-text ``accepted`` lists hold the translated forms; a question accepts both
languages' lists.

The body keeps the English file's sections (one ``##``/``###`` heading for each, in order),
its diagrams (``/static/diagrams/<language>/<name>``, the same names) and its demo blocks,
unchanged: the demo models read English, so their inputs stay English, and each block's
stored examples are the English lesson's. The one exception is the tokenizer demo, whose
input may be in the twin's language (it shows what each tokenizer does to that script).

``python -m lessons.course_files.twins EN_FILE TWIN_FILE`` prints what does not match.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

LANGUAGES = ("zh-hans",)  # the twins' languages; English is the course files' own
FREE_INPUT_DEMOS = ("tokenize",)  # demo kinds whose input a twin may translate

HEADING_RE = re.compile(r"^(#{2,3}) ", re.MULTILINE)
DIAGRAM_RE = re.compile(r"!\[[^\]]*\]\(/static/diagrams/(?:([a-z-]+)/)?([A-Za-z0-9_.-]+)\)")
DEMO_RE = re.compile(r"^```demo ([a-z-]+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
CJK_RE = re.compile(r"[\u3400-\u9fff]")

# Per question: what a twin copies unchanged
SAME_QUESTION_KEYS = ("key", "kind", "partial_credit", "answer", "threshold", "margin", "examples")
SAME_QUIZ_KEYS = ("pass_mark", "attempts_allowed", "score_policy", "reveal_answers")
SAME_LESSON_KEYS = ("slug", "order", "duration", "course")


def body_outline(body: str) -> dict[str, Any]:
    """The parts of a body a twin keeps: heading levels, diagrams, demo blocks."""
    return {
        "headings": [match.group(1) for match in HEADING_RE.finditer(_without_code(body))],
        "diagrams": [(m.group(1), m.group(2)) for m in DIAGRAM_RE.finditer(body)],
        "demos": [(m.group(1), m.group(2).strip()) for m in DEMO_RE.finditer(body)],
    }


def _without_code(body: str) -> str:
    """The body with fenced blocks blanked (a ``## `` inside code is not a heading)."""
    return re.sub(r"^```.*?^```", "", body, flags=re.MULTILINE | re.DOTALL)


def _has_language(text: str, language: str) -> bool:
    return bool(CJK_RE.search(text)) if language == "zh-hans" else True


def twin_problems(english: dict[str, Any], twin: dict[str, Any], language: str) -> list[str]:
    """What in `twin` (a parsed lesson's canonical data) does not match `english`."""
    problems: list[str] = []
    for key in SAME_LESSON_KEYS:
        if english.get(key) != twin.get(key):
            problems.append(
                f"`{key}` is {twin.get(key)!r}, the English lesson's {english.get(key)!r}"
            )
    for key in ("title", "summary"):
        if english.get(key) and not _has_language(twin.get(key) or "", language):
            problems.append(f"`{key}` is not translated")
    problems += _body_problems(english["body"], twin["body"], language)
    problems += _quiz_problems(english.get("quiz"), twin.get("quiz"), language)
    return problems


def _body_problems(english: str, twin: str, language: str) -> list[str]:
    problems = []
    en, tw = body_outline(english), body_outline(twin)
    if en["headings"] != tw["headings"]:
        problems.append(
            f"the body's headings are {' '.join(tw['headings']) or 'none'}; the English "
            f"lesson's are {' '.join(en['headings']) or 'none'} (one per section, in order)"
        )
    expected = [(language, name) for _lang, name in en["diagrams"]]
    if tw["diagrams"] != expected:
        names = [f"{lang or ''}/{name}" for lang, name in tw["diagrams"]]
        problems.append(
            f"diagrams are {names}; expected {[f'{lang}/{name}' for lang, name in expected]}"
        )
    if [kind for kind, _ in en["demos"]] != [kind for kind, _ in tw["demos"]]:
        problems.append(
            f"demo blocks are {[k for k, _ in tw['demos']]}; the English lesson's are "
            f"{[k for k, _ in en['demos']]}"
        )
    else:
        for (kind, en_input), (_kind, tw_input) in zip(en["demos"], tw["demos"], strict=True):
            if kind not in FREE_INPUT_DEMOS and en_input != tw_input:
                problems.append(f"the `{kind}` demo block's input differs from the English one")
    if not _has_language(twin, language):
        problems.append("the body is not translated")
    return problems


def _quiz_problems(english: dict | None, twin: dict | None, language: str) -> list[str]:
    if english is None or twin is None:
        return [] if english is twin else ["one of the two files has a quiz and the other not"]
    problems = [
        f"quiz `{key}` is {twin.get(key)!r}, the English quiz's {english.get(key)!r}"
        for key in SAME_QUIZ_KEYS
        if english.get(key) != twin.get(key)
    ]
    en_keys = [q["key"] for q in english["questions"]]
    tw_keys = [q["key"] for q in twin["questions"]]
    if en_keys != tw_keys:
        return [*problems, f"question keys are {tw_keys}; the English quiz's are {en_keys}"]
    for en_q, tw_q in zip(english["questions"], twin["questions"], strict=True):
        where = f"question `{en_q['key']}`"
        for key in SAME_QUESTION_KEYS:
            if en_q.get(key) != tw_q.get(key):
                problems.append(f"{where}: `{key}` differs from the English question's")
        if not _has_language(tw_q["prompt"], language):
            problems.append(f"{where}: the prompt is not translated")
        en_c, tw_c = en_q.get("choices") or [], tw_q.get("choices") or []
        if [c["correct"] for c in en_c] != [c["correct"] for c in tw_c]:
            problems.append(f"{where}: the choices (how many, and which are right) differ")
        en_concepts, tw_concepts = en_q.get("concepts") or [], tw_q.get("concepts") or []
        if [(c["phrases"], c.get("misconceptions")) for c in en_concepts] != [
            (c["phrases"], c.get("misconceptions")) for c in tw_concepts
        ]:
            problems.append(
                f"{where}: concepts' phrases and misconceptions must stay the English ones "
                "(only their labels are translated)"
            )
        if len(en_q.get("references") or []) != len(tw_q.get("references") or []):
            problems.append(f"{where}: a different number of model answers")
    return problems


def main(argv: list[str]) -> int:
    from lessons.course_files.parse import parse_lesson_file

    if len(argv) != 2:
        print("usage: python -m lessons.course_files.twins EN_FILE TWIN_FILE", file=sys.stderr)
        return 2
    en_path, twin_path = Path(argv[0]), Path(argv[1])
    language = twin_path.parent.name
    english, twin = parse_lesson_file(en_path), parse_lesson_file(twin_path)
    problems = twin_problems(english.data, twin.data, language)
    for warning in twin.warnings:
        print(f"warning: {warning}")
    for problem in problems:
        print(f"{twin_path.name}: {problem}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
