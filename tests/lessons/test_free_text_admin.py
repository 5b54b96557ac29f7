"""Explain-in-your-words questions in the admin: references required, phrases one per line."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lessons.models import CalibrationRun, KeyConcept, Question
from tests.factories import QuizFactory, StaffUserFactory, free_text_question

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory())
    return client


def form(quiz, *, references=(), concepts=(), kind="free_text", **changes) -> dict:
    data = {
        "quiz": quiz.pk,
        "key": "explain-it",
        "order": 1,
        "kind": kind,
        "prompt": "Why?",
        "explanation": "Because.",
        "is_active": "on",
        "similarity_threshold": 0.55,
        "similarity_margin": 0.2,
    }
    for prefix in ("choices", "accepted_answers", "grading_examples"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    data.update({"reference_answers-TOTAL_FORMS": len(references)})
    data.update({"reference_answers-INITIAL_FORMS": 0})
    for index, text in enumerate(references):
        data[f"reference_answers-{index}-text"] = text
        data[f"reference_answers-{index}-order"] = index
    data.update({"key_concepts-TOTAL_FORMS": len(concepts), "key_concepts-INITIAL_FORMS": 0})
    for index, (label, phrases) in enumerate(concepts):
        data[f"key_concepts-{index}-label"] = label
        data[f"key_concepts-{index}-phrases_text"] = phrases
        data[f"key_concepts-{index}-order"] = index
    data.update(changes)
    return data


def test_a_free_text_question_needs_a_reference_answer(staff_client):
    response = staff_client.post(reverse("admin:lessons_question_add"), form(QuizFactory()))
    assert response.status_code == 200
    assert "needs at least one reference answer" in response.content.decode()
    assert not Question.objects.exists()


def test_key_concept_phrases_are_edited_one_per_line(staff_client):
    quiz = QuizFactory()
    response = staff_client.post(
        reverse("admin:lessons_question_add"),
        form(
            quiz,
            references=["It fills blanks from both sides."],
            concepts=[
                ("both sides", "context on both sides\r\n\r\nbidirectional\r\nbidirectional")
            ],
        ),
    )
    assert response.status_code == 302
    question = Question.objects.get(key="explain-it")
    assert question.similarity_threshold == 0.55
    assert KeyConcept.objects.get().phrases == ["context on both sides", "bidirectional"]
    page = staff_client.get(reverse("admin:lessons_question_change", args=[question.pk]))
    assert "context on both sides\nbidirectional" in page.content.decode()
    assert "Not calibrated yet" in page.content.decode()


def test_a_concept_without_phrases_is_refused(staff_client):
    response = staff_client.post(
        reverse("admin:lessons_question_add"),
        form(QuizFactory(), references=["R."], concepts=[("idea", "   ")]),
    )
    assert response.status_code == 200 and "Give at least one phrase" in response.content.decode()


def test_free_text_questions_take_no_choices(staff_client):
    data = form(QuizFactory(), references=["R."])
    data.update(
        {
            "choices-TOTAL_FORMS": 2,
            "choices-0-text": "a",
            "choices-0-order": 0,
            "choices-0-is_correct": "on",
            "choices-1-text": "b",
            "choices-1-order": 1,
        }
    )
    response = staff_client.post(reverse("admin:lessons_question_add"), data)
    assert response.status_code == 200
    assert "graded against reference answers" in response.content.decode()


def test_applying_a_suggested_threshold_from_the_calibration_report(staff_client):
    question = free_text_question(threshold=0.6)
    run = CalibrationRun.objects.create(
        question=question,
        model_name="all-MiniLM-L6-v2",
        threshold=0.6,
        margin=0.2,
        examples=3,
        agreement=0.5,
        suggested_threshold=0.45,
        suggested_agreement=1.0,
        report={"rows": [], "confusion": []},
    )
    response = staff_client.post(
        reverse("admin:lessons_calibrationrun_changelist"),
        {"action": "apply_suggested_threshold", "_selected_action": [run.pk]},
    )
    assert response.status_code == 302
    question.refresh_from_db()
    run.refresh_from_db()
    assert question.similarity_threshold == 0.45 and run.applied
    assert question.history.latest().history_change_reason == f"calibration run {run.pk}"
