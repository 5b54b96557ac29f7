"""Quiz services: opening attempts, inline checks, submitting once, merging learners."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import OperationalError, connection, connections

from lessons import services
from lessons.models import Answer, Attempt, LessonRead, Question
from lessons.selectors.quizzes import quiz_active_questions
from lessons.services import (
    AnswerInput,
    AnswerLocked,
    AttemptClosed,
    InvalidAnswer,
    learner_merge_into_user,
    question_check,
    quiz_attempt_open,
    quiz_attempt_submit,
)
from tests.factories import (
    ChoiceFactory,
    LessonFactory,
    QuizFactory,
    SubmittedAttemptFactory,
    UserFactory,
    multiple_choice_question,
    quiz_with_questions,
    short_text_question,
    single_choice_question,
)

pytestmark = pytest.mark.django_db

ANON = "7f1c3f5e-1a7e-4c55-9f43-3a8b7c1f2a10"


def _questions(quiz):
    return {q.key: q for q in quiz.questions.prefetch_related("choices")}


def _right(question):
    return frozenset(c.pk for c in question.choices.all() if c.is_correct)


def _wrong(question):
    return frozenset(c.pk for c in question.choices.all() if not c.is_correct)


def _one_wrong(question):
    return AnswerInput(choice_ids=frozenset([min(_wrong(question))]))


def _all_right(quiz):
    qs = _questions(quiz)
    return {
        qs["single"].pk: AnswerInput(choice_ids=_right(qs["single"])),
        qs["multiple"].pk: AnswerInput(choice_ids=_right(qs["multiple"])),
        qs["true-false"].pk: AnswerInput(choice_ids=_right(qs["true-false"])),
        qs["short-text"].pk: AnswerInput(text="  Masked language modelling! "),
    }


# --- quiz_attempt_open -------------------------------------------------------------------


def test_open_creates_then_resumes_the_same_attempt():
    user = UserFactory()
    quiz = quiz_with_questions()
    first = quiz_attempt_open(quiz=quiz, user=user, anon_id="")
    again = quiz_attempt_open(quiz=quiz, user=user, anon_id="")
    assert first.pk == again.pk
    assert first.status == Attempt.Status.OPEN
    assert first.user == user
    assert first.anon_id == ""


def test_open_for_anonymous_learner_keeps_the_anon_id_and_no_user():
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=None, anon_id=ANON)
    assert attempt.user is None
    assert attempt.anon_id == ANON
    # Another anonymous learner gets their own attempt.
    other = quiz_attempt_open(quiz=quiz, user=None, anon_id=str(uuid.uuid4()))
    assert other.pk != attempt.pk


def test_open_without_any_learner_is_refused():
    with pytest.raises(ValueError, match="learner"):
        quiz_attempt_open(quiz=quiz_with_questions(), user=None, anon_id="")


def test_open_respects_attempts_allowed_and_uses_a_new_seed_each_time():
    user = UserFactory()
    quiz = quiz_with_questions(attempts_allowed=2)
    first = quiz_attempt_open(quiz=quiz, user=user, anon_id="")
    quiz_attempt_submit(attempt=first, answers={})
    second = quiz_attempt_open(quiz=quiz, user=user, anon_id="")
    assert second.pk != first.pk
    assert second.shuffle_seed != first.shuffle_seed
    quiz_attempt_submit(attempt=second, answers={})
    assert quiz_attempt_open(quiz=quiz, user=user, anon_id="") is None
    assert Attempt.objects.filter(quiz=quiz).count() == 2


def test_open_counts_only_this_learners_attempts():
    quiz = quiz_with_questions(attempts_allowed=1)
    SubmittedAttemptFactory(quiz=quiz)  # someone else used theirs
    assert quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="") is not None


# --- question_check ------------------------------------------------------------------------


def test_check_records_grades_and_locks_the_answer():
    quiz = quiz_with_questions()
    single = _questions(quiz)["single"]
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    answer = question_check(
        attempt=attempt, question=single, answer=AnswerInput(choice_ids=_right(single))
    )
    assert answer.checked_inline is True
    assert answer.is_correct is True
    assert answer.score == 1.0
    assert set(answer.selected_choices.values_list("pk", flat=True)) == set(_right(single))

    with pytest.raises(AnswerLocked, match="locked"):
        question_check(
            attempt=attempt,
            question=single,
            answer=AnswerInput(choice_ids=frozenset([min(_wrong(single))])),
        )
    assert Answer.objects.get(attempt=attempt, question=single).is_correct is True


def test_check_replayed_with_the_same_answer_returns_the_saved_one():
    quiz = quiz_with_questions()
    text = _questions(quiz)["short-text"]
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    first = question_check(attempt=attempt, question=text, answer=AnswerInput(text="MLM"))
    again = question_check(attempt=attempt, question=text, answer=AnswerInput(text="MLM  "))
    assert again.pk == first.pk
    assert Answer.objects.count() == 1


@pytest.mark.parametrize(
    ("make_answer", "message"),
    [
        (lambda q, other: AnswerInput(), "Pick an answer"),
        (lambda q, other: AnswerInput(choice_ids=_right(other)), "not one of this question"),
        (
            lambda q, other: AnswerInput(choice_ids=frozenset(c.pk for c in q.choices.all())),
            "only one",
        ),
        (lambda q, other: AnswerInput(text="typed"), "takes a choice"),
    ],
    ids=["blank", "foreign-choice", "two-picks", "text-for-choice"],
)
def test_check_rejects_ill_fitting_answers_and_saves_nothing(make_answer, message):
    quiz = quiz_with_questions()
    qs = _questions(quiz)
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    with pytest.raises(InvalidAnswer, match=message):
        question_check(
            attempt=attempt,
            question=qs["single"],
            answer=make_answer(qs["single"], qs["multiple"]),
        )
    assert not Answer.objects.exists()


def test_check_rejects_too_long_text_and_question_of_another_quiz():
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    text = _questions(quiz)["short-text"]
    with pytest.raises(InvalidAnswer, match="300 characters"):
        question_check(attempt=attempt, question=text, answer=AnswerInput(text="x" * 301))
    foreign = single_choice_question()
    with pytest.raises(InvalidAnswer, match="not part of this quiz"):
        question_check(
            attempt=attempt, question=foreign, answer=AnswerInput(choice_ids=_right(foreign))
        )
    assert not Answer.objects.exists()


def test_check_on_a_submitted_attempt_is_refused():
    quiz = quiz_with_questions()
    single = _questions(quiz)["single"]
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    quiz_attempt_submit(attempt=attempt, answers={})
    with pytest.raises(AttemptClosed):
        question_check(
            attempt=attempt, question=single, answer=AnswerInput(choice_ids=_right(single))
        )


# --- quiz_attempt_submit -------------------------------------------------------------------


def test_submit_grades_every_question_on_the_server():
    user = UserFactory()
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=user, anon_id="")
    result = quiz_attempt_submit(attempt=attempt, answers=_all_right(quiz))
    assert result.already_submitted is False
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.submitted_at is not None
    assert attempt.score == 1.0
    assert Answer.objects.filter(attempt=attempt, is_correct=True).count() == 4
    # Submitting marks nothing read: only the learner's "Mark as read" does.
    assert not LessonRead.objects.filter(lesson=quiz.lesson, user=user).exists()


def test_submit_scores_unanswered_questions_zero_and_keeps_a_row_for_each():
    quiz = quiz_with_questions()
    qs = _questions(quiz)
    attempt = quiz_attempt_open(quiz=quiz, user=None, anon_id=ANON)
    quiz_attempt_submit(
        attempt=attempt, answers={qs["single"].pk: AnswerInput(choice_ids=_right(qs["single"]))}
    )
    attempt.refresh_from_db()
    assert attempt.score == pytest.approx(0.25)
    assert Answer.objects.filter(attempt=attempt).count() == 4
    assert Answer.objects.filter(attempt=attempt, score=0.0, is_correct=False).count() == 3
    assert not LessonRead.objects.exists()


def test_submit_uses_partial_credit_and_skips_inactive_questions():
    quiz = QuizFactory()
    partial = multiple_choice_question(quiz=quiz, key="m", partial_credit=True)
    inactive = single_choice_question(quiz=quiz, key="gone", is_active=False)
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    one_right = frozenset([min(_right(partial))])
    quiz_attempt_submit(attempt=attempt, answers={partial.pk: AnswerInput(choice_ids=one_right)})
    attempt.refresh_from_db()
    assert attempt.score == pytest.approx(1 / 3)
    assert not Answer.objects.filter(question=inactive).exists()


def test_submit_keeps_inline_checked_answers_and_refuses_changing_them():
    quiz = quiz_with_questions()
    qs = _questions(quiz)
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    wrong = frozenset([min(_wrong(qs["single"]))])
    question_check(attempt=attempt, question=qs["single"], answer=AnswerInput(choice_ids=wrong))

    with pytest.raises(AnswerLocked):
        quiz_attempt_submit(
            attempt=attempt,
            answers={qs["single"].pk: AnswerInput(choice_ids=_right(qs["single"]))},
        )
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN  # rolled back: nothing half-saved
    assert Answer.objects.filter(attempt=attempt).count() == 1

    # Resending the locked answer unchanged (or leaving it out) is fine.
    quiz_attempt_submit(attempt=attempt, answers={qs["single"].pk: AnswerInput(choice_ids=wrong)})
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    locked = Answer.objects.get(attempt=attempt, question=qs["single"])
    assert locked.checked_inline is True
    assert locked.is_correct is False


@pytest.mark.parametrize(
    "tamper",
    ["unknown-question", "foreign-choice", "two-picks", "too-long"],
)
def test_submit_rejects_tampered_answers_before_saving_anything(tamper):
    quiz = quiz_with_questions()
    qs = _questions(quiz)
    other = single_choice_question()
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    answers = {
        "unknown-question": {other.pk: AnswerInput(choice_ids=_right(other))},
        "foreign-choice": {qs["single"].pk: AnswerInput(choice_ids=_right(other))},
        "two-picks": {
            qs["true-false"].pk: AnswerInput(
                choice_ids=frozenset(c.pk for c in qs["true-false"].choices.all())
            )
        },
        "too-long": {qs["short-text"].pk: AnswerInput(text="a" * 301)},
    }[tamper]
    with pytest.raises(InvalidAnswer):
        quiz_attempt_submit(attempt=attempt, answers=answers)
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN
    assert not Answer.objects.exists()


def test_submit_is_one_transaction_an_error_midway_leaves_nothing(monkeypatch):
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    written = {}

    def fail_at_the_last_step(*args, **kwargs):
        # the answers and their choices are written by now; the score is being summed
        written["answers"] = Answer.objects.filter(attempt=attempt).count()
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.math, "fsum", fail_at_the_last_step)
    with pytest.raises(RuntimeError, match="disk full"):
        quiz_attempt_submit(attempt=attempt, answers=_all_right(quiz))
    assert written["answers"] == quiz.questions.count()  # all were written before the failure...
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN  # ...and all of it rolled back
    assert attempt.score is None
    assert attempt.submitted_at is None
    assert not Answer.objects.exists()
    assert not LessonRead.objects.exists()


def test_submit_twice_grades_once():
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    first = quiz_attempt_submit(attempt=attempt, answers=_all_right(quiz))
    stale = Attempt.objects.get(pk=attempt.pk)
    stale.status = Attempt.Status.OPEN  # a replayed request holding an old copy
    second = quiz_attempt_submit(attempt=stale, answers={})
    assert first.already_submitted is False
    assert second.already_submitted is True
    assert second.attempt.score == 1.0  # the first grading stands
    assert Answer.objects.filter(attempt=attempt).count() == 4


# --- quiz_attempt_submit when the caller saw no saved answer (the quiz page's submit) ------
# ``saved={}``: the compare-and-set writes the score, then one insert of the answers and one
# of their choices. A Check that saved an answer after the caller looked must still count.


def test_a_submit_with_nothing_saved_takes_three_statements(django_assert_num_queries):
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    answers, questions = _all_right(quiz), quiz_active_questions(quiz=quiz)
    # the savepoint pair: the test itself runs inside a transaction
    with django_assert_num_queries(3 + 2):
        result = quiz_attempt_submit(
            attempt=attempt, answers=answers, questions=questions, saved={}
        )
    assert result.already_submitted is False
    assert (result.attempt.status, result.attempt.score) == (Attempt.Status.SUBMITTED, 1.0)
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.score == 1.0 and attempt.grading_pending is False
    assert attempt.submitted_at == result.attempt.submitted_at
    assert Answer.objects.filter(attempt=attempt, is_correct=True).count() == 4
    multiple = _questions(quiz)["multiple"]
    saved = Answer.objects.get(attempt=attempt, question=multiple)
    assert {c.pk for c in saved.selected_choices.all()} == _right(multiple)


def test_a_check_saved_after_the_caller_looked_counts_once():
    quiz = quiz_with_questions()
    qs = _questions(quiz)
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    # checked (wrong) in another tab between the page's read of the answers and its submit
    question_check(attempt=attempt, question=qs["single"], answer=_one_wrong(qs["single"]))
    others = {pk: answer for pk, answer in _all_right(quiz).items() if pk != qs["single"].pk}

    result = quiz_attempt_submit(attempt=attempt, answers=others, saved={})

    assert result.already_submitted is False
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.score == pytest.approx(0.75)  # the checked wrong answer counts, once
    assert Answer.objects.filter(attempt=attempt).count() == 4
    checked = Answer.objects.get(attempt=attempt, question=qs["single"])
    assert checked.checked_inline and not checked.is_correct


def test_a_changed_answer_to_a_question_checked_meanwhile_is_refused_and_nothing_saved():
    quiz = quiz_with_questions()
    qs = _questions(quiz)
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    question_check(attempt=attempt, question=qs["single"], answer=_one_wrong(qs["single"]))

    with pytest.raises(AnswerLocked):
        quiz_attempt_submit(attempt=attempt, answers=_all_right(quiz), saved={})

    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN and attempt.score is None
    assert Answer.objects.filter(attempt=attempt).count() == 1  # only the checked one


def test_a_second_submit_with_nothing_saved_grades_nothing_again():
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    first = quiz_attempt_submit(attempt=attempt, answers=_all_right(quiz), saved={})
    stale = Attempt.objects.get(pk=attempt.pk)
    stale.status = Attempt.Status.OPEN  # a replayed request holding an old copy
    second = quiz_attempt_submit(attempt=stale, answers={}, saved={})
    assert (first.already_submitted, second.already_submitted) == (False, True)
    assert second.attempt.score == 1.0  # the first grading stands
    assert Answer.objects.filter(attempt=attempt).count() == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("saved", [None, {}], ids=["answers read again", "nothing saved"])
def test_two_simultaneous_submits_produce_one_graded_attempt(saved):
    """Two threads submit the same attempt at once (PostgreSQL when DATABASE_URL says so)."""
    quiz = quiz_with_questions()
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    answers = _all_right(quiz)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def submit() -> None:
        try:
            copy = Attempt.objects.select_related("quiz__lesson").get(pk=attempt.pk)
            barrier.wait(timeout=10)
            results.append(quiz_attempt_submit(attempt=copy, answers=answers, saved=saved))
        except OperationalError as exc:  # SQLite may refuse the loser's write lock outright
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    graded = [r for r in results if isinstance(r, services.SubmitResult)]
    winners = [r for r in graded if not r.already_submitted]
    assert len(results) == 2
    assert len(winners) == 1
    if connection.vendor == "postgresql":
        assert len(graded) == 2  # the loser waited, then saw it was already submitted
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.score == 1.0
    assert Answer.objects.filter(attempt=attempt).count() == 4


# --- learner_merge_into_user -------------------------------------------------------------


def test_merge_moves_attempts_and_reads_and_drops_duplicate_reads():
    user = UserFactory()
    read_both, read_anon_only = LessonFactory(), LessonFactory()
    LessonRead.objects.create(lesson=read_both, user=user)
    LessonRead.objects.create(lesson=read_both, anon_id=ANON)
    LessonRead.objects.create(lesson=read_anon_only, anon_id=ANON)
    attempt = SubmittedAttemptFactory(user=None, anon_id=ANON)
    stranger = SubmittedAttemptFactory(user=None, anon_id=str(uuid.uuid4()))

    result = learner_merge_into_user(anon_id=ANON, user=user)

    assert (result.attempts, result.reads_moved, result.reads_dropped) == (1, 1, 1)
    attempt.refresh_from_db()
    assert (attempt.user, attempt.anon_id) == (user, "")
    stranger.refresh_from_db()
    assert stranger.user is None
    assert set(LessonRead.objects.filter(user=user).values_list("lesson", flat=True)) == {
        read_both.pk,
        read_anon_only.pk,
    }
    assert not LessonRead.objects.filter(anon_id=ANON).exists()


def test_merge_with_empty_anon_id_moves_nothing():
    SubmittedAttemptFactory(user=None, anon_id="")
    result = learner_merge_into_user(anon_id="", user=UserFactory())
    assert result.attempts == 0
    assert Attempt.objects.filter(user__isnull=True).count() == 1


def test_answer_grade_dispatches_by_kind():
    question = short_text_question(accepted=("[CLS]",))
    assert services.answer_grade(question=question, answer=AnswerInput(text="cls")).is_correct
    tf = ChoiceFactory(question__kind=Question.Kind.TRUE_FALSE, is_correct=True).question
    assert services.answer_grade(
        question=tf, answer=AnswerInput(choice_ids=frozenset([tf.choices.get().pk]))
    ).is_correct


def test_submit_of_a_quiz_without_active_questions_is_refused():
    quiz = QuizFactory()
    single_choice_question(quiz=quiz, is_active=False)
    attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
    with pytest.raises(InvalidAnswer, match="no questions"):
        quiz_attempt_submit(attempt=attempt, answers={})
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN
