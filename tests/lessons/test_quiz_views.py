"""Quiz pages: taking, checking inline (htmx and plain), submitting, reviewing, tampering."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from lessons.models import Answer, Attempt, Choice
from lessons.selectors.quiz_keys import quiz_questions_for_grading
from lessons.selectors.quizzes import choices_in_attempt_order
from lessons.services import quiz_attempt_open
from tests.factories import (
    DEFAULT_PASSWORD,
    StaffUserFactory,
    SubmittedAttemptFactory,
    UserFactory,
    quiz_with_questions,
    single_choice_question,
)
from tests.quiz_support import NOTHING_PICKED, start_attempt

# A submit of an attempt with no answer checked inline, the questions already kept
# (lessons.selectors.quiz_keys): the session, the user, the attempt (which says it has no
# saved answer); in the transaction the compare-and-set that writes the score, one insert of
# the answers and one of their choices; and the savepoint around them (the test runs inside
# a transaction). The same for 4 questions or 12. (It was 25 before the questions were kept.)
SUBMIT_QUERIES = 8
# The first submit after the course is loaded or edited reads the questions too: the
# questions, their choices, accepted answers, reference answers, key concepts, translations.
FIRST_SUBMIT_QUERIES = SUBMIT_QUERIES + 6
# An attempt with an answer checked inline: its saved answers with their choices before the
# form is checked, read again under the lock, and the score written after the inserts.
CHECKED_SUBMIT_QUERIES = SUBMIT_QUERIES + 5

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def quiz_url(quiz):
    return reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug})


def check_url(attempt, question):
    return reverse(
        "lessons:question-check", kwargs={"token": attempt.token, "question_id": question.pk}
    )


def submit_url(attempt):
    return reverse("lessons:quiz-submit", kwargs={"token": attempt.token})


def result_url(attempt):
    return reverse("lessons:attempt-detail", kwargs={"token": attempt.token})


def questions(quiz):
    return {q.key: q for q in quiz.questions.prefetch_related("choices")}


def right_ids(question):
    return [c.pk for c in question.choices.all() if c.is_correct]


def wrong_ids(question):
    return [c.pk for c in question.choices.all() if not c.is_correct]


def open_quiz(client, quiz):
    """The quiz page as the learner reads it, and the attempt their first answer starts."""
    attempt = start_attempt(client, quiz)
    response = client.get(quiz_url(quiz))
    assert response.status_code == 200
    return response, attempt


@pytest.fixture
def quiz():
    return quiz_with_questions()


@pytest.fixture
def learner(client):
    user = UserFactory()
    client.force_login(user)
    return user


# --- Taking a quiz ---------------------------------------------------------------------------


def test_reading_a_quiz_page_starts_nothing_and_the_first_answer_keeps_its_order(client, quiz):
    url = quiz_url(quiz)
    first = client.get(url)
    assert Attempt.objects.count() == 0 and "learner_id" not in client.session
    shown = first.context["attempt"]
    assert shown.pk is None
    single = questions(quiz)["single"]
    check = reverse("lessons:quiz-start-check", args=[quiz.lesson.slug, single.pk])
    wrong = single.choices.filter(is_correct=False).first()
    response = client.post(check, {f"q-{single.pk}": str(wrong.pk), "seed": shown.shuffle_seed})
    assert response.status_code == 302
    started = Attempt.objects.get()
    assert started.shuffle_seed == shown.shuffle_seed
    assert started.anon_id == client.session["learner_id"]
    assert started.answers.get().question == single


def test_a_known_learner_sees_the_same_order_on_every_read_and_a_new_one_next_time(
    client, quiz, learner
):
    seeds = {client.get(quiz_url(quiz)).context["attempt"].shuffle_seed for _ in range(3)}
    assert len(seeds) == 1 and Attempt.objects.count() == 0
    SubmittedAttemptFactory(quiz=quiz, user=learner, score=0.5)
    assert client.get(quiz_url(quiz)).context["attempt"].shuffle_seed not in seeds


def test_a_refused_first_answer_starts_no_attempt(client, quiz):
    single = questions(quiz)["single"]
    response = client.post(
        reverse("lessons:quiz-start-submit", args=[quiz.lesson.slug]), {f"q-{single.pk}": "x"}
    )
    assert response.status_code == 400
    assert Attempt.objects.count() == 0


def test_quiz_page_opens_and_resumes_one_attempt_for_an_anonymous_learner(client, quiz):
    _, attempt = open_quiz(client, quiz)
    assert attempt.user is None
    assert attempt.anon_id == client.session["learner_id"]
    _, again = open_quiz(client, quiz)
    assert again.pk == attempt.pk
    assert Attempt.objects.count() == 1


def test_quiz_page_lists_questions_in_authored_order_with_choices_by_pk(client, quiz, learner):
    response, attempt = open_quiz(client, quiz)
    html = response.content.decode()
    keys = [item.question.key for item in response.context["items"]]
    assert keys == ["single", "multiple", "true-false", "short-text"]
    for key in ("single", "multiple"):
        question = questions(quiz)[key]
        expected = [
            c.pk for c in choices_in_attempt_order(question=question, seed=attempt.shuffle_seed)
        ]
        shown = [int(pk) for pk in re.findall(rf'name="q-{question.pk}" value="(\d+)"', html)]
        assert shown == expected


def test_shuffle_is_stable_within_an_attempt_and_varies_across_seeds(quiz):
    question = questions(quiz)["multiple"]
    orders = {
        tuple(c.pk for c in choices_in_attempt_order(question=question, seed=seed))
        for seed in range(40)
    }
    assert len(orders) > 5
    once = choices_in_attempt_order(question=question, seed=123)
    assert choices_in_attempt_order(question=question, seed=123) == once
    true_false = questions(quiz)["true-false"]
    texts = [c.text for c in choices_in_attempt_order(question=true_false, seed=99)]
    assert texts == ["True", "False"]


def test_quiz_page_does_not_reveal_answers(client, quiz, learner):
    response, _ = open_quiz(client, quiz)
    html = response.content.decode()
    for question in quiz.questions.all():
        assert question.explanation not in html
        for accepted in question.accepted_answers.all():
            assert accepted.text not in html
    for choice in Choice.objects.filter(question__quiz=quiz):
        assert choice.feedback not in html
    for marker in ("is-correct", "is_correct", "correct answer", "data-correct", "Correct"):
        assert marker not in html


def test_question_html_is_identical_whichever_choice_is_correct(client, quiz, learner):
    single = questions(quiz)["single"]
    start_attempt(client, quiz)

    def question_html():
        html = client.get(quiz_url(quiz)).content.decode()
        match = re.search(
            rf'<section class="question[^"]*" id="question-{single.pk}".*?</section>', html, re.S
        )
        return match.group(0)

    before = question_html()
    right, other = single.choices.get(is_correct=True), single.choices.filter(is_correct=False)[0]
    Choice.objects.filter(pk=right.pk).update(is_correct=False)
    Choice.objects.filter(pk=other.pk).update(is_correct=True)
    assert question_html() == before


def test_quiz_for_lesson_without_quiz_is_404(client):
    from tests.factories import LessonFactory

    response = client.get(reverse("lessons:quiz-detail", kwargs={"slug": LessonFactory().slug}))
    assert response.status_code == 404


def test_used_up_attempts_show_standing_and_history_without_a_new_attempt(client, learner):
    quiz = quiz_with_questions(attempts_allowed=1, score_policy="best")
    done = SubmittedAttemptFactory(quiz=quiz, user=learner, score=0.8)
    response = client.get(quiz_url(quiz))
    assert response.status_code == 200
    assert response.context["attempt"] is None
    html = response.content.decode()
    assert "No attempts left" in html
    assert "80%" in html
    assert "Passed" in html
    assert result_url(done) in html
    assert 'name="q-' not in html
    assert Attempt.objects.filter(quiz=quiz).count() == 1


# --- Inline check ----------------------------------------------------------------------------


def test_htmx_check_returns_feedback_and_a_locked_fieldset(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    wrong = wrong_ids(single)[0]
    response = client.post(check_url(attempt, single), {f"q-{single.pk}": wrong}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not quite" in html
    assert single.explanation in html
    assert Choice.objects.get(pk=wrong).feedback in html
    assert "Correct answer" in html  # reveal_answers is on
    assert Choice.objects.get(pk=right_ids(single)[0]).text in html
    assert f'id="choices-{single.pk}"' in html
    assert 'hx-swap-oob="outerHTML"' in html
    assert "is-correct" in html  # the locked fieldset marks the right choice
    assert re.search(rf'<fieldset id="choices-{single.pk}"[^>]* disabled', html)
    assert "<html" not in html  # a partial, not the page
    answer = Answer.objects.get(attempt=attempt, question=single)
    assert answer.checked_inline is True
    assert answer.is_correct is False


def test_htmx_check_hides_correct_choices_when_the_quiz_does_not_reveal_them(client, learner):
    quiz = quiz_with_questions(reveal_answers=False)
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    response = client.post(
        check_url(attempt, single), {f"q-{single.pk}": wrong_ids(single)[0]}, **HX
    )
    html = response.content.decode()
    assert "Not quite" in html
    assert single.explanation in html
    assert "Correct answer" not in html
    assert "is-correct" not in html
    assert "choice-tag-correct" not in html


def test_plain_check_redirects_back_with_feedback_and_keeps_other_answers(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    qs = questions(quiz)
    single, text = qs["single"], qs["short-text"]
    response = client.post(
        check_url(attempt, single),
        {f"q-{single.pk}": right_ids(single)[0], f"q-{text.pk}": "half typed"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"?checked={single.pk}#question-{single.pk}")
    page = client.get(response["Location"]).content.decode()
    assert "Correct" in page
    assert single.explanation in page
    assert 'value="half typed"' in page  # the draft survived the reload
    assert not Answer.objects.filter(question=text).exists()


def test_check_with_nothing_picked_is_422_with_a_message(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    response = client.post(check_url(attempt, single), {}, **HX)
    assert response.status_code == 422
    assert "Pick an answer before checking" in response.content.decode()
    plain = client.post(check_url(attempt, single), {})
    assert plain.status_code == 422
    assert "Pick an answer before checking" in plain.content.decode()
    assert not Answer.objects.exists()


def test_changing_a_checked_answer_is_refused(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    client.post(check_url(attempt, single), {f"q-{single.pk}": wrong_ids(single)[0]}, **HX)
    response = client.post(
        check_url(attempt, single), {f"q-{single.pk}": right_ids(single)[0]}, **HX
    )
    assert response.status_code in (400, 409)
    assert "locked" in response.content.decode()
    response = client.post(submit_url(attempt), {f"q-{single.pk}": right_ids(single)[0]})
    assert response.status_code in (400, 409)
    assert "locked" in response.content.decode()
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN
    assert Answer.objects.get(question=single).is_correct is False


def test_locked_question_renders_disabled_with_the_learners_choice(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    picked = wrong_ids(single)[0]
    client.post(check_url(attempt, single), {f"q-{single.pk}": picked}, **HX)
    html = client.get(quiz_url(quiz)).content.decode()
    assert re.search(rf'<fieldset id="choices-{single.pk}"[^>]* disabled', html)
    assert re.search(rf'value="{picked}" checked', html)
    assert check_url(attempt, single) not in html


def test_check_of_a_question_from_another_quiz_is_404(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    foreign = single_choice_question()
    response = client.post(check_url(attempt, foreign), {f"q-{foreign.pk}": right_ids(foreign)[0]})
    assert response.status_code == 404
    assert not Answer.objects.exists()


def test_check_and_submit_are_post_only(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    assert client.get(check_url(attempt, single)).status_code == 405
    assert client.get(submit_url(attempt)).status_code == 405


# --- Submit ------------------------------------------------------------------------------------


def full_answers(quiz):
    qs = questions(quiz)
    return {
        f"q-{qs['single'].pk}": right_ids(qs["single"])[0],
        f"q-{qs['multiple'].pk}": right_ids(qs["multiple"]),
        f"q-{qs['true-false'].pk}": wrong_ids(qs["true-false"])[0],
        f"q-{qs['short-text'].pk}": " the MLM! ",
    }


def test_plain_submit_grades_and_redirects_to_the_result(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    response = client.post(submit_url(attempt), full_answers(quiz))
    assert response.status_code == 302
    assert response["Location"] == result_url(attempt)
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.score == pytest.approx(0.5)  # "the mlm" is not "mlm"; t/f wrong

    page = client.get(result_url(attempt))
    html = page.content.decode()
    assert page.status_code == 200
    assert "50%" in html
    assert "Not passed" in html
    for question in quiz.questions.all():
        assert question.explanation in html
    assert "Try again" in html


def test_htmx_submit_answers_with_hx_redirect(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    response = client.post(submit_url(attempt), full_answers(quiz), **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == result_url(attempt)


def test_replayed_submit_says_already_submitted_and_grades_once(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    client.post(submit_url(attempt), full_answers(quiz))
    qs = questions(quiz)
    replay = client.post(
        submit_url(attempt), {f"q-{qs['single'].pk}": wrong_ids(qs["single"])[0]}, follow=True
    )
    assert replay.redirect_chain[-1][0] == result_url(attempt)
    assert "already submitted" in replay.content.decode()
    attempt.refresh_from_db()
    assert attempt.score == pytest.approx(0.5)
    assert Answer.objects.filter(attempt=attempt).count() == 4
    htmx_replay = client.post(submit_url(attempt), {}, **HX)
    assert htmx_replay["HX-Redirect"] == result_url(attempt)


@pytest.mark.parametrize(
    "tamper",
    [
        "foreign-choice",
        "unknown-question",
        "non-integer-id",
        "non-integer-choice",
        "two-picks",
        "too-long",
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_tampered_submissions_are_rejected_and_nothing_is_saved(
    client, quiz, learner, tamper, htmx
):
    _, attempt = open_quiz(client, quiz)
    qs = questions(quiz)
    other = single_choice_question()
    data = {
        "foreign-choice": {f"q-{qs['single'].pk}": right_ids(other)[0]},
        "unknown-question": {f"q-{other.pk}": right_ids(other)[0]},
        "non-integer-id": {"q-abc": "1"},
        "non-integer-choice": {f"q-{qs['multiple'].pk}": ["1x"]},
        "two-picks": {f"q-{qs['single'].pk}": [c.pk for c in qs["single"].choices.all()][:2]},
        "too-long": {f"q-{qs['short-text'].pk}": "x" * 301},
    }[tamper]
    response = client.post(submit_url(attempt), data, **(HX if htmx else {}))
    assert response.status_code == 400
    html = response.content.decode()
    assert any(
        message in html
        for message in (
            "not one of this question",
            "not part of this quiz",
            "Pick only one",
            "300 characters",
        )
    )
    assert ("<html" in html) is not htmx  # htmx gets the form partial back
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN
    assert not Answer.objects.exists()


# --- A submit that isn't the quiz form ------------------------------------------------------


def attempt_state(attempt):
    """Everything a submit could change: the attempt's status and score, and its answers."""
    attempt.refresh_from_db()
    answers = sorted(
        (a.question_id, a.text, a.score, tuple(sorted(c.pk for c in a.selected_choices.all())))
        for a in Answer.objects.filter(attempt=attempt)
    )
    return attempt.status, attempt.score, attempt.submitted_at, answers


def post_body(client, url, body, htmx):
    """POST ``url`` with a body that is not the quiz form."""
    extra = HX if htmx else {}
    if body == "empty":  # what `curl -X POST -d ''` sends
        return client.generic(
            "POST", url, b"", content_type="application/x-www-form-urlencoded", **extra
        )
    if body == "json":
        return client.post(url, {"answers": {"1": "2"}}, content_type="application/json", **extra)
    # Fields the quiz form never names (and no answer field).
    return client.post(url, {"answer": "1", "seed": "7", "q": "x"}, **extra)


@pytest.mark.parametrize("body", ["empty", "json", "unknown-fields"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_submit_that_is_not_the_quiz_form_is_refused_and_changes_nothing(
    client, quiz, learner, body, htmx
):
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    client.post(check_url(attempt, single), {f"q-{single.pk}": wrong_ids(single)[0]}, **HX)
    before = attempt_state(attempt)
    response = post_body(client, submit_url(attempt), body, htmx)
    assert response.status_code == 400
    html = response.content.decode()
    assert "carried none of this quiz" in html and "still open" in html
    assert 'role="alert"' in html
    assert ("<html" in html) is not htmx  # htmx gets the form partial back
    assert attempt_state(attempt) == before  # still open, the one checked answer as it was
    assert before[0] == Attempt.Status.OPEN and len(before[3]) == 1


@pytest.mark.parametrize("body", ["empty", "json", "unknown-fields"])
def test_a_first_submit_that_is_not_the_quiz_form_starts_no_attempt(client, quiz, body):
    client.get(quiz_url(quiz))
    url = reverse("lessons:quiz-start-submit", args=[quiz.lesson.slug])
    response = post_body(client, url, body, htmx=False)
    assert response.status_code == 400
    assert "carried none of this quiz" in response.content.decode()
    assert not Attempt.objects.exists() and not Answer.objects.exists()


def test_the_quiz_form_sends_its_own_field(client, quiz, learner):
    html, _ = open_quiz(client, quiz)
    form = re.search(r'<form id="quiz-form".*?</form>', html.content.decode(), re.S).group(0)
    assert '<input type="hidden" name="quiz-form" value="1">' in form


def test_a_partly_answered_form_still_grades_with_blanks_scoring_0(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    qs = questions(quiz)
    # As a browser sends it: the picked radio, the empty text box, nothing for the rest.
    data = {
        **NOTHING_PICKED,
        f"q-{qs['single'].pk}": right_ids(qs["single"])[0],
        f"q-{qs['short-text'].pk}": "",
    }
    response = client.post(submit_url(attempt), data)
    assert response.status_code == 302
    assert response["Location"] == result_url(attempt)
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.score == pytest.approx(0.25)
    assert Answer.objects.filter(attempt=attempt).count() == 4


def test_a_quiz_answered_by_check_alone_submits_with_only_the_forms_field(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    qs = questions(quiz)
    for key in ("single", "multiple", "true-false"):
        question = qs[key]
        answer = right_ids(question) if key == "multiple" else right_ids(question)[0]
        response = client.post(check_url(attempt, question), {f"q-{question.pk}": answer})
        assert response.status_code == 302
    text = qs["short-text"]
    assert client.post(check_url(attempt, text), {f"q-{text.pk}": "MLM"}).status_code == 302
    # Every question is locked (its inputs disabled): the form sends only its own field.
    response = client.post(submit_url(attempt), NOTHING_PICKED, **HX)
    assert response["HX-Redirect"] == result_url(attempt)
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.score == pytest.approx(1.0)


def test_someone_elses_attempt_is_404_everywhere(client, quiz):
    owner = UserFactory()
    client.force_login(owner)
    _, attempt = open_quiz(client, quiz)
    single = questions(quiz)["single"]
    client.logout()

    intruder = UserFactory()
    client.force_login(intruder)
    assert client.post(submit_url(attempt), full_answers(quiz)).status_code == 404
    assert (
        client.post(
            check_url(attempt, single), {f"q-{single.pk}": right_ids(single)[0]}
        ).status_code
        == 404
    )
    assert client.get(result_url(attempt)).status_code == 404
    client.logout()

    # Another browser session (anonymous) can't use it either.
    assert client.post(submit_url(attempt), full_answers(quiz)).status_code == 404
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN
    assert not Answer.objects.exists()


def test_another_anonymous_session_cannot_touch_an_anonymous_attempt(client, quiz):
    from django.test import Client

    _, attempt = open_quiz(client, quiz)
    stranger = Client()
    stranger.get(quiz_url(quiz))  # has its own learner id now
    assert stranger.post(submit_url(attempt), full_answers(quiz)).status_code == 404
    assert stranger.get(result_url(attempt)).status_code == 404
    assert client.post(submit_url(attempt), full_answers(quiz)).status_code == 302


def test_unknown_token_is_404(client, learner):
    url = reverse(
        "lessons:attempt-detail", kwargs={"token": "6b1e0f4e-4a1d-4a0e-9a55-2d3c1b0a9f8e"}
    )
    assert client.get(url).status_code == 404
    assert client.get("/attempts/not-a-uuid/").status_code == 404


# --- Result page -------------------------------------------------------------------------------


def test_result_hides_correct_answers_when_not_revealed_and_try_again_when_used_up(client, learner):
    quiz = quiz_with_questions(reveal_answers=False, attempts_allowed=1)
    _, attempt = open_quiz(client, quiz)
    client.post(submit_url(attempt), NOTHING_PICKED)
    html = client.get(result_url(attempt)).content.decode()
    assert "Not answered" in html
    assert "Correct answer" not in html
    assert "Accepted answer" not in html
    for question in quiz.questions.all():
        assert question.explanation in html
    assert "Try again" not in html
    assert "No attempts left" in html


def test_open_attempt_result_redirects_owner_to_the_quiz(client, quiz, learner):
    _, attempt = open_quiz(client, quiz)
    response = client.get(result_url(attempt))
    assert response.status_code == 302
    assert response["Location"] == quiz_url(quiz)


def test_staff_can_review_a_learners_submitted_attempt(client, quiz):
    attempt = SubmittedAttemptFactory(quiz=quiz, user=UserFactory(username="ada"), score=0.25)
    client.force_login(StaffUserFactory())
    response = client.get(result_url(attempt))
    assert response.status_code == 200
    assert "ada" in response.content.decode()
    assert "Try again" not in response.content.decode()


def test_anonymous_attempt_shows_up_after_login_via_password(client, quiz):
    user = UserFactory()
    _, attempt = open_quiz(client, quiz)
    client.post(submit_url(attempt), full_answers(quiz))
    client.post(
        reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD}
    )
    attempt.refresh_from_db()
    assert attempt.user == user
    assert client.get(result_url(attempt)).status_code == 200


@pytest.fixture(params=[0, 8], ids=["4 questions", "12 questions"])
def long_or_short_quiz(request, client, learner):
    """A quiz of 4 questions or 12, and the learner's open attempt of it."""
    quiz = quiz_with_questions()
    for index in range(request.param):
        single_choice_question(quiz=quiz, key=f"extra-{index}", order=10 + index)
    _, attempt = open_quiz(client, quiz)
    return quiz, attempt


def test_quiz_and_result_pages_use_a_constant_number_of_queries(
    client, long_or_short_quiz, django_assert_max_num_queries
):
    quiz, attempt = long_or_short_quiz
    with django_assert_max_num_queries(14):
        assert client.get(quiz_url(quiz)).status_code == 200
    client.post(submit_url(attempt), NOTHING_PICKED)
    with django_assert_max_num_queries(9):
        assert client.get(result_url(attempt)).status_code == 200


@pytest.fixture
def process_cache(settings):
    """A cache of this test's own (this process's memory) instead of the suite's Redis, which
    other test processes may clear at any moment: the kept questions' version lives there."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_a_submit_costs_the_same_few_queries_however_long_the_quiz(
    client, long_or_short_quiz, process_cache, django_assert_max_num_queries
):
    quiz, attempt = long_or_short_quiz
    answers = full_answers(quiz)
    with django_assert_max_num_queries(FIRST_SUBMIT_QUERIES):
        assert client.post(submit_url(attempt), answers).status_code == 302
    first = attempt
    attempt = quiz_attempt_open(quiz=quiz, user=attempt.user)  # a second try, nothing checked
    with django_assert_max_num_queries(SUBMIT_QUERIES):
        response = client.post(submit_url(attempt), answers)
    assert response.status_code == 302
    attempt.refresh_from_db()
    first.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.answers.count() == quiz.questions.filter(is_active=True).count()
    assert attempt.score == first.score > 0


def test_a_submit_after_a_check_reads_the_checked_answer_in_a_few_more_queries(
    client, long_or_short_quiz, process_cache, django_assert_max_num_queries
):
    quiz, attempt = long_or_short_quiz
    single = questions(quiz)["single"]
    client.post(check_url(attempt, single), {f"q-{single.pk}": right_ids(single)[0]})
    quiz_questions_for_grading(quiz_id=quiz.pk)  # kept, as after any earlier submit
    answers = {k: v for k, v in full_answers(quiz).items() if k != f"q-{single.pk}"}
    with django_assert_max_num_queries(CHECKED_SUBMIT_QUERIES):
        assert client.post(submit_url(attempt), answers).status_code == 302
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.SUBMITTED
    assert attempt.answers.count() == quiz.questions.filter(is_active=True).count()
    assert attempt.answers.get(question=single).checked_inline


def test_quiz_with_zero_attempts_allowed_is_closed(client, learner):
    quiz = quiz_with_questions(attempts_allowed=0)
    response = client.get(quiz_url(quiz))
    assert response.status_code == 200
    assert "This quiz is closed" in response.content.decode()
    assert not Attempt.objects.exists()


def test_quiz_without_active_questions_says_so_and_cannot_be_submitted(client, learner):
    quiz = single_choice_question(is_active=False).quiz
    response, attempt = open_quiz(client, quiz)
    assert "no questions yet" in response.content.decode()
    response = client.post(submit_url(attempt), NOTHING_PICKED)
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.OPEN


def test_a_submit_loads_the_quiz_questions_once(client, quiz, learner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    attempt = start_attempt(client, quiz)
    single = questions(quiz)["single"]
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            reverse("lessons:quiz-submit", kwargs={"token": attempt.token}),
            {f"q-{single.pk}": str(single.choices.first().pk)},
        )
    assert response.status_code == 302
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "lessons_question"' in q["sql"]]
    assert len(reads) == 1, reads
