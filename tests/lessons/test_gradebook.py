"""Staff gradebook: access, table, lesson filter, question statistics, CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from lessons.gradebook_views import csv_safe
from lessons.models import Attempt
from lessons.selectors.gradebook import gradebook_build, quiz_question_stats
from lessons.services import AnswerInput, quiz_attempt_open, quiz_attempt_submit
from tests.factories import (
    StaffUserFactory,
    SubmittedAttemptFactory,
    UserFactory,
    quiz_with_questions,
)

pytestmark = pytest.mark.django_db

GRADEBOOK_URLS = [
    ("lessons:gradebook", {}),
    ("lessons:gradebook-csv", {}),
    ("lessons:attempts-csv", {}),
]


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory())
    return client


def csv_rows(response):
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def at(minutes):
    return timezone.now() - timedelta(minutes=100 - minutes)


# --- Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), GRADEBOOK_URLS)
def test_anonymous_visitors_are_sent_to_log_in(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login") + "?next=")


@pytest.mark.parametrize(("name", "kwargs"), GRADEBOOK_URLS)
def test_logged_in_learners_are_forbidden(client, name, kwargs):
    client.force_login(UserFactory())
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403


def test_learners_cannot_see_question_statistics(client):
    quiz = quiz_with_questions()
    client.force_login(UserFactory())
    url = reverse("lessons:gradebook-quiz", kwargs={"quiz_id": quiz.pk})
    assert client.get(url).status_code == 403


def test_staff_see_the_gradebook_link_in_the_nav(staff_client):
    html = staff_client.get(reverse("lessons:progress")).content.decode()
    assert reverse("lessons:gradebook") in html


# --- Gradebook table ------------------------------------------------------------------------------


@pytest.fixture
def book_data():
    first = quiz_with_questions(score_policy="best", pass_mark=70)
    second = quiz_with_questions(score_policy="last", pass_mark=50)
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    SubmittedAttemptFactory(quiz=first, user=ada, score=0.5, submitted_at=at(1))
    SubmittedAttemptFactory(quiz=first, user=ada, score=0.9, submitted_at=at(2))
    SubmittedAttemptFactory(quiz=second, user=ada, score=0.8, submitted_at=at(3))
    SubmittedAttemptFactory(quiz=second, user=ada, score=0.25, submitted_at=at(4))
    SubmittedAttemptFactory(quiz=first, user=bob, score=0.6, submitted_at=at(5))
    SubmittedAttemptFactory(quiz=first, user=None, anon_id="anon-1", score=1.0)
    SubmittedAttemptFactory(quiz=first, user=None, anon_id="anon-1", score=1.0)
    SubmittedAttemptFactory(quiz=second, user=None, anon_id="anon-2", score=1.0)
    UserFactory(username="lurker")  # no submitted attempt: not a gradebook row
    Attempt.objects.create(quiz=first, user=UserFactory(username="opener"), shuffle_seed=3)
    return first, second


def test_gradebook_counts_scores_by_policy_and_lists_only_learners_with_attempts(book_data):
    first, second = book_data
    book = gradebook_build()
    assert [q.pk for q in book.quizzes] == [first.pk, second.pk]
    assert [row.user.username for row in book.rows] == ["ada", "bob"]
    ada, bob = book.rows
    assert ada.cells[0].score == pytest.approx(0.9)  # best
    assert ada.cells[0].passed is True
    assert ada.cells[0].attempts == 2
    assert ada.cells[1].score == pytest.approx(0.25)  # last
    assert ada.cells[1].passed is False
    assert bob.cells[0].score == pytest.approx(0.6)
    assert bob.cells[0].passed is False
    assert bob.cells[1] is None
    assert (book.anonymous_learners, book.anonymous_attempts) == (2, 3)


def test_gradebook_query_count_is_constant(book_data, django_assert_max_num_queries):
    for index in range(10):
        SubmittedAttemptFactory(quiz=book_data[0], user=UserFactory(username=f"extra{index}"))
    with django_assert_max_num_queries(3):
        book = gradebook_build()
        assert len(book.rows) == 12


def test_gradebook_page_shows_marks_with_text_not_only_colour(staff_client, book_data):
    response = staff_client.get(reverse("lessons:gradebook"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "90%" in html
    assert "passed" in html
    assert "not passed" in html
    assert "not attempted" in html
    assert "2 anonymous learners" in html
    assert "lurker" not in html
    assert "opener" not in html


def test_gradebook_filter_by_lesson_plain_and_htmx(staff_client, book_data):
    first, second = book_data
    url = reverse("lessons:gradebook") + f"?lesson={second.lesson.slug}"
    plain = staff_client.get(url)
    assert plain.status_code == 200
    assert plain.context["book"].quizzes == [second]
    assert "<html" in plain.content.decode()

    partial = staff_client.get(url, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in html
    assert 'id="gradebook-table"' in html
    assert second.title in html
    assert first.title not in html
    assert "HX-Request" in partial["Vary"]


def test_gradebook_unknown_lesson_is_a_clear_400(staff_client, book_data):
    response = staff_client.get(reverse("lessons:gradebook") + "?lesson=nope")
    assert response.status_code == 400
    assert "no lesson with a quiz" in response.content.decode()


# --- CSV ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (0.5, "0.5"),
        (None, ""),
    ],
)
def test_csv_safe_defuses_formulas(value, expected):
    assert csv_safe(value) == expected


def test_gradebook_csv(staff_client, book_data):
    first, second = book_data
    UserFactory(username="=cmd|' /C calc'!A0")
    SubmittedAttemptFactory(
        quiz=first, user=UserFactory(username="@evil"), score=0.7, submitted_at=at(9)
    )
    response = staff_client.get(reverse("lessons:gradebook-csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0][:5] == [
        "username",
        "email",
        f"{first.title} score %",
        f"{first.title} passed",
        f"{first.title} attempts",
    ]
    by_user = {row[0]: row for row in rows[1:]}
    assert by_user["ada"][2:8] == ["90.0", "yes", "2", "25.0", "no", "2"]
    assert by_user["bob"][5:8] == ["", "", "0"]
    assert "'@evil" in by_user  # formula-looking username defused
    assert by_user["'@evil"][2:4] == ["70.0", "yes"]


def test_gradebook_csv_filtered_by_lesson(staff_client, book_data):
    _, second = book_data
    response = staff_client.get(reverse("lessons:gradebook-csv") + f"?lesson={second.lesson.slug}")
    rows = csv_rows(response)
    assert rows[0] == [
        "username",
        "email",
        f"{second.title} score %",
        f"{second.title} passed",
        f"{second.title} attempts",
    ]
    assert [row[0] for row in rows[1:]] == ["ada"]


def test_attempts_csv_has_one_row_per_answer_and_is_injection_safe(staff_client):
    quiz = quiz_with_questions()
    questions = {q.key: q for q in quiz.questions.prefetch_related("choices")}
    user = UserFactory(username="ada")
    attempt = quiz_attempt_open(quiz=quiz, user=user, anon_id="")
    single = questions["single"]
    quiz_attempt_submit(
        attempt=attempt,
        answers={
            single.pk: AnswerInput(choice_ids=frozenset([single.choices.get(is_correct=True).pk])),
            questions["short-text"].pk: AnswerInput(text="=1+1"),
        },
    )
    anon_attempt = quiz_attempt_open(quiz=quiz, user=None, anon_id="secret-anon-id")
    quiz_attempt_submit(attempt=anon_attempt, answers={})
    quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")  # open: not exported

    response = staff_client.get(reverse("lessons:attempts-csv"))
    rows = csv_rows(response)
    assert rows[0] == [
        "attempt",
        "user",
        "quiz",
        "question",
        "answer",
        "score",
        "correct",
        "checked_inline",
        "submitted_at",
    ]
    body = rows[1:]
    assert len(body) == 8  # 2 submitted attempts × 4 questions
    mine = [row for row in body if row[0] == str(attempt.token)]
    by_question = {row[3]: row for row in mine}
    assert by_question["single"][1] == "ada"
    assert by_question["single"][4] == single.choices.get(is_correct=True).text
    assert by_question["single"][5:7] == ["1.0", "yes"]
    assert by_question["short-text"][4] == "'=1+1"
    assert by_question["true-false"][4] == ""
    anon_rows = [row for row in body if row[0] == str(anon_attempt.token)]
    assert all(row[1].startswith("anonymous-") for row in anon_rows)
    assert "secret-anon-id" not in str(rows)


def test_attempts_csv_query_count_is_bounded(staff_client, django_assert_max_num_queries):
    quiz = quiz_with_questions()
    for _ in range(6):
        attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
        quiz_attempt_submit(attempt=attempt, answers={})
    with django_assert_max_num_queries(6):
        response = staff_client.get(reverse("lessons:attempts-csv"))
        rows = csv_rows(response)
    assert len(rows) == 1 + 6 * 4


# --- Question statistics ---------------------------------------------------------------------


def test_question_statistics(staff_client):
    quiz = quiz_with_questions()
    questions = {q.key: q for q in quiz.questions.prefetch_related("choices")}
    single, text = questions["single"], questions["short-text"]
    right = single.choices.get(is_correct=True)
    wrong = list(single.choices.filter(is_correct=False))
    picks = [right, wrong[1], wrong[1], wrong[0]]
    typed = ["MLM", "next token prediction", "Next token prediction!", "nsp"]
    for choice, answer_text in zip(picks, typed, strict=True):
        attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
        quiz_attempt_submit(
            attempt=attempt,
            answers={
                single.pk: AnswerInput(choice_ids=frozenset([choice.pk])),
                text.pk: AnswerInput(text=answer_text),
            },
        )
    quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")  # open: ignored

    stats = {s.question.key: s for s in quiz_question_stats(quiz=quiz)}
    assert stats["single"].answers == 4
    assert stats["single"].correct == 1
    assert stats["single"].share_correct == pytest.approx(0.25)
    assert stats["single"].average_score == pytest.approx(0.25)
    assert stats["single"].top_wrong_choice == wrong[1]
    assert stats["single"].top_wrong_choice.picks == 2
    assert stats["short-text"].top_wrong_text == "next token prediction"
    assert stats["short-text"].top_wrong_text_count == 2
    assert stats["true-false"].share_correct == 0.0  # unanswered everywhere

    response = staff_client.get(reverse("lessons:gradebook-quiz", kwargs={"quiz_id": quiz.pk}))
    html = response.content.decode()
    assert response.status_code == 200
    assert "4 submitted attempts" in html
    assert wrong[1].text in html
    assert "picked 2 times" in html
    assert (
        staff_client.get(reverse("lessons:gradebook-quiz", kwargs={"quiz_id": 999999})).status_code
        == 404
    )


def test_question_statistics_query_count(django_assert_max_num_queries):
    quiz = quiz_with_questions()
    for _ in range(5):
        attempt = quiz_attempt_open(quiz=quiz, user=UserFactory(), anon_id="")
        quiz_attempt_submit(attempt=attempt, answers={})
    with django_assert_max_num_queries(4):
        assert len(quiz_question_stats(quiz=quiz)) == 4
