"""Explain-in-your-words questions in the course files: parse, validate, load, export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings

from lessons.course_files import (
    CourseFileError,
    canonical_hash,
    lesson_file_text,
    parse_lesson_file,
    parse_lesson_text,
)
from lessons.loader import (
    course_export,
    course_load,
    lesson_canonical,
    lesson_current_hash,
    lesson_queryset_for_canonical,
)
from lessons.models import GradingExample, KeyConcept, Lesson, Question, ReferenceAnswer

CONTENT = Path(settings.BASE_DIR) / "lessons" / "content"

FREE = {
    "key": "why-not-generate",
    "kind": "free_text",
    "prompt": "Why can't BERT generate left to right?",
    "explanation": "It learned to fill blanks with both sides.",
    "threshold": 0.55,
    "references": ["It fills masked words from both sides.", "It never learned next words."],
    "concepts": [
        {"label": "fills masked words", "phrases": ["fill in masked words", "masked LM"]},
        {"label": "both sides", "phrases": ["both sides"]},
    ],
    "examples": [
        {"label": "correct", "text": "It fills blanks using both sides."},
        {"label": "partial", "text": "Bidirectional."},
        {"label": "wrong", "text": "It is too small."},
    ],
}


def lesson_text(*questions: dict, slug: str = "bert") -> str:
    meta = {
        "slug": slug,
        "title": "BERT",
        "section": "Models",
        "order": 3,
        "duration": 10,
        "quiz": {"title": "Check yourself", "questions": list(questions)},
    }
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n## Body\n\nText.\n"


def changed(**changes) -> dict:
    question = yaml.safe_load(yaml.safe_dump(FREE))
    for key, value in changes.items():
        if value is ...:
            question.pop(key, None)
        else:
            question[key] = value
    return question


def test_a_free_text_question_parses_into_the_canonical_form():
    (question,) = parse_lesson_text(lesson_text(FREE)).data["quiz"]["questions"]
    assert question["kind"] == "free_text"
    assert question["threshold"] == 0.55 and question["margin"] == 0.2  # margin defaulted
    assert question["references"] == FREE["references"]
    assert question["concepts"] == FREE["concepts"]
    assert question["examples"] == FREE["examples"]
    assert question["choices"] == [] and question["accepted"] == []


def test_other_kinds_carry_no_free_text_keys():
    single = {
        "key": "s",
        "kind": "single",
        "prompt": "?",
        "explanation": "!",
        "choices": [{"text": "a", "correct": True}, {"text": "b"}],
    }
    (question,) = parse_lesson_text(lesson_text(single)).data["quiz"]["questions"]
    assert not {"threshold", "margin", "references", "concepts", "examples"} & set(question)


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        (changed(references=...), "needs at least one of `references`"),
        (changed(references=[]), "needs at least one of `references`"),
        (changed(threshold=1.5), "`threshold` must be between 0.0 and 1"),
        (changed(threshold="high"), "`threshold` must be a number"),
        (changed(margin=0), "`margin` must be between 0.01 and 1"),
        (changed(concepts=[{"label": "x", "phrases": []}]), "give at least one of `phrases`"),
        (changed(concepts=[{"phrases": ["x"]}]), "`label` is required"),
        (changed(examples=[{"label": "maybe", "text": "x"}]), "`label` must be one of"),
        (changed(choices=[{"text": "a"}, {"text": "b"}]), "use `references`, not choices"),
        (
            {
                "key": "s",
                "kind": "short_text",
                "prompt": "?",
                "explanation": "!",
                "accepted": ["x"],
                "references": ["y"],
            },
            "`references` is only for free_text questions",
        ),
    ],
)
def test_invalid_free_text_questions_are_refused_with_a_reason(question, reason):
    with pytest.raises(CourseFileError, match=reason.replace("(", r"\(").replace("`", "`")):
        parse_lesson_text(lesson_text(question), path="03-bert.md")


def test_write_then_parse_keeps_a_free_text_question():
    data = parse_lesson_text(lesson_text(FREE)).data
    again = parse_lesson_text(lesson_file_text(data)).data
    assert again == data and canonical_hash(again) == canonical_hash(data)


@pytest.mark.django_db
def test_load_stores_references_concepts_and_examples_and_reloads_unchanged(tmp_path):
    (tmp_path / "03-bert.md").write_text(lesson_text(FREE), encoding="utf-8")
    report = course_load(directory=tmp_path)
    assert report.ok and report.created == ["bert"]
    question = Question.objects.get(key="why-not-generate")
    assert question.kind == Question.Kind.FREE_TEXT
    assert question.similarity_threshold == 0.55 and question.similarity_margin == 0.2
    assert list(question.reference_answers.values_list("text", flat=True)) == FREE["references"]
    assert [(c.label, c.phrases) for c in question.key_concepts.all()] == [
        (c["label"], c["phrases"]) for c in FREE["concepts"]
    ]
    assert [(e.label, e.text) for e in question.grading_examples.all()] == [
        (e["label"], e["text"]) for e in FREE["examples"]
    ]
    assert course_load(directory=tmp_path).unchanged == ["bert"]

    # Editing the file replaces the rows; the question keeps its identity.
    edited = changed(references=["Only this one now."], concepts=[], examples=[])
    (tmp_path / "03-bert.md").write_text(lesson_text(edited), encoding="utf-8")
    assert course_load(directory=tmp_path).updated == ["bert"]
    assert Question.objects.get(key="why-not-generate").pk == question.pk
    assert list(ReferenceAnswer.objects.values_list("text", flat=True)) == ["Only this one now."]
    assert not KeyConcept.objects.exists() and not GradingExample.objects.exists()


@pytest.mark.django_db
def test_a_threshold_changed_in_the_admin_counts_as_an_edit(tmp_path):
    (tmp_path / "03-bert.md").write_text(lesson_text(FREE), encoding="utf-8")
    course_load(directory=tmp_path)
    lesson = Lesson.objects.get(slug="bert")
    before = lesson_current_hash(lesson)
    Question.objects.filter(key="why-not-generate").update(similarity_threshold=0.7)
    assert lesson_current_hash(lesson) != before
    assert course_load(directory=tmp_path).skipped_edited == ["bert"]


@pytest.mark.django_db
def test_the_real_course_exports_and_reloads_as_a_no_op(tmp_path):
    report = course_load(directory=CONTENT)
    assert report.errors == [] and report.warnings == []
    assert Question.objects.filter(kind=Question.Kind.FREE_TEXT).count() >= 5
    course_export(directory=tmp_path)
    for path in sorted(tmp_path.glob("*.md")):
        exported = parse_lesson_file(path).data
        lesson = lesson_queryset_for_canonical().get(slug=exported["slug"])
        assert lesson_canonical(lesson) == exported, path.name
    again = course_load(directory=tmp_path)
    assert again.created == [] and again.updated == [] and again.errors == []


# --- Misconceptions ---------------------------------------------------------------------------

WITH_MISCONCEPTIONS = changed(
    concepts=[
        {
            "label": "fills masked words",
            "phrases": ["fill in masked words", "masked LM"],
            "misconceptions": ["predicts the next word", "it was trained like GPT"],
        },
        {"label": "both sides", "phrases": ["both sides"]},
    ]
)


def test_misconceptions_parse_and_only_concepts_with_some_carry_the_key():
    (question,) = parse_lesson_text(lesson_text(WITH_MISCONCEPTIONS)).data["quiz"]["questions"]
    masked, sides = question["concepts"]
    assert masked["misconceptions"] == ["predicts the next word", "it was trained like GPT"]
    # Absent, not empty: the canonical form (and the hash) of lessons without misconceptions
    # is what it was before the key existed, so they don't all look edited after the upgrade.
    assert "misconceptions" not in sides
    (plain,) = parse_lesson_text(lesson_text(FREE)).data["quiz"]["questions"]
    assert all(set(c) == {"label", "phrases"} for c in plain["concepts"])


@pytest.mark.parametrize(
    ("misconceptions", "reason"),
    [
        ({"text": "x"}, "`misconceptions` must be a list of texts"),
        ([["nested"]], "`misconceptions` must hold texts"),
        (["  "], "each of `misconceptions` must be 1 to 300 characters"),
        (["both sides"], "is both a phrase and a misconception"),
        ([f"wrong idea {n}" for n in range(21)], "at most 20 `misconceptions`"),
    ],
)
def test_invalid_misconceptions_are_refused_with_a_reason(misconceptions, reason):
    question = changed(
        concepts=[{"label": "x", "phrases": ["both sides"], "misconceptions": misconceptions}]
    )
    with pytest.raises(CourseFileError, match=reason.replace("`", "`")):
        parse_lesson_text(lesson_text(question), path="03-bert.md")


def test_write_then_parse_keeps_misconceptions():
    data = parse_lesson_text(lesson_text(WITH_MISCONCEPTIONS)).data
    text = lesson_file_text(data)
    assert "misconceptions:" in text and text.count("misconceptions:") == 1
    assert parse_lesson_text(text).data == data


@pytest.mark.django_db
def test_misconceptions_load_export_and_reload_unchanged(tmp_path):
    source, exported = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    (source / "03-bert.md").write_text(lesson_text(WITH_MISCONCEPTIONS), encoding="utf-8")
    assert course_load(directory=source).created == ["bert"]
    masked, sides = KeyConcept.objects.order_by("order")
    assert masked.misconceptions == ["predicts the next word", "it was trained like GPT"]
    assert sides.misconceptions == []
    lesson = lesson_queryset_for_canonical().get(slug="bert")
    assert lesson_canonical(lesson) == parse_lesson_file(source / "03-bert.md").data

    course_export(directory=exported)
    (path,) = exported.glob("*.md")
    assert parse_lesson_file(path).data == parse_lesson_file(source / "03-bert.md").data
    assert course_load(directory=exported).unchanged == ["bert"]

    # Dropping them from the file updates the concept; the lesson's hash is the plain one.
    (source / "03-bert.md").write_text(lesson_text(FREE), encoding="utf-8")
    assert course_load(directory=source).updated == ["bert"]
    assert list(KeyConcept.objects.values_list("misconceptions", flat=True)) == [[], []]
    assert Lesson.objects.get(slug="bert").loaded_hash == canonical_hash(
        parse_lesson_text(lesson_text(FREE)).data
    )


@pytest.mark.django_db
def test_the_grading_task_gets_the_misconceptions(tmp_path):
    from lessons.free_text import free_text_task_kwargs
    from tests.factories import AnswerFactory

    (tmp_path / "03-bert.md").write_text(lesson_text(WITH_MISCONCEPTIONS), encoding="utf-8")
    course_load(directory=tmp_path)
    answer = AnswerFactory(question=Question.objects.get(key="why-not-generate"), text="x")
    masked, sides = free_text_task_kwargs(answer=answer)["concepts"]
    assert masked["misconceptions"] == ["predicts the next word", "it was trained like GPT"]
    assert "misconceptions" not in sides  # as before the key existed
