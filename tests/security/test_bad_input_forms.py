"""Property-based: the account forms, the gradebook filter and every URL parameter get a
clear answer for any input (a form with its errors, a 404), never a 5xx, and a refused
form saves nothing (no user, no half-made account)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import StaffUserFactory, quiz_with_questions
from tests.quiz_support import start_attempt

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ODD = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "x" * 151,
        "x" * 300,
        "y" * 5000,
        "<script>alert(1)</script>",
        "admin",
        "ADMIN",
        "ａｄｍｉｎ",
        "admin\u200b",
        "🙂" * 40,
        "a@b",
        "@@",
        "a" * 65 + "@x.io",
        "x@" + "y" * 300 + ".com",
        "'; DROP TABLE auth_user; --",
        "../../etc/passwd",
        "%00",
        "\ud7ff",
        "ß",
        "İ",
        "\u202e",
    ]
)
fields = st.one_of(ODD, st.text(max_size=300))


@FUZZ
@given(username=fields, email=fields, password1=fields, password2=fields)
def test_sign_up_with_anything_is_a_form_or_an_account(username, email, password1, password2):
    client = Client(raise_request_exception=False)
    users_before = get_user_model().objects.count()
    response = client.post(
        "/accounts/signup/",
        {
            "username": username,
            "email": email,
            "password1": password1,
            "password2": password2,
        },
    )
    assert response.status_code in (302, 400, 429), response.status_code
    created = get_user_model().objects.count() - users_before
    if response.status_code == 302:
        assert created == 1
        client.post("/accounts/logout/")
    else:
        assert created == 0
        if response.status_code == 400:
            assert "errorlist" in response.content.decode()


@FUZZ
@given(username=fields, password=fields, admin=st.booleans())
def test_login_with_anything_is_refused_clearly(username, password, admin):
    client = Client(raise_request_exception=False)
    url = "/admin/login/" if admin else "/accounts/login/"
    response = client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR="192.0.2.10"
    )
    assert response.status_code in (200, 429), response.status_code
    assert "_auth_user_id" not in client.session


@FUZZ
@given(email=fields)
def test_password_reset_with_anything_answers_the_same(settings, email):
    # Every example comes from one address: room for all of them to reach the form.
    settings.PASSWORD_RESET_RATE_LIMIT_IP = "10000/h"
    client = Client(raise_request_exception=False)
    response = client.post("/accounts/password/reset/", {"email": email})
    # The same answer whether or not the address exists: no account enumeration.
    assert response.status_code in (200, 302), response.status_code


@FUZZ
@given(lesson=fields, htmx=st.booleans())
def test_the_gradebook_filter_takes_anything(lesson, htmx):
    client = Client(raise_request_exception=False)
    client.force_login(StaffUserFactory())
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for url in (
        "/staff/gradebook/",
        "/staff/gradebook/gradebook.csv",
        "/staff/gradebook/attempts.csv",
    ):
        response = client.get(url, {"lesson": lesson}, **extra)
        assert response.status_code in (200, 400), (url, response.status_code)


HUGE_NUMBERS = ["0", "-1", "2147483648", "9223372036854775808", "9" * 40, "9" * 5000]


def test_out_of_range_ids_in_urls_are_not_found():
    quiz = quiz_with_questions()
    staff = Client(raise_request_exception=False)
    staff.force_login(StaffUserFactory())
    learner = Client(raise_request_exception=False)
    token = start_attempt(learner, quiz).token
    for number in HUGE_NUMBERS:
        for client, path, method in (
            (staff, f"/staff/gradebook/quizzes/{number}/", "get"),
            (learner, f"/attempts/{token}/questions/{number}/check/", "post"),
            (staff, f"/admin/lessons/lesson/{number}/change/", "get"),
            (staff, f"/admin/lessons/attempt/{number}/change/", "get"),
        ):
            response = getattr(client, method)(path)
            assert response.status_code in (302, 404, 405), (path, response.status_code)


def test_a_huge_checked_parameter_is_ignored():
    quiz = quiz_with_questions()
    client = Client(raise_request_exception=False)
    response = client.get(f"/lessons/{quiz.lesson.slug}/quiz/", {"checked": "9" * 5000})
    assert response.status_code == 200
