"""Accounts: sign up, log in/out, password change and reset (with the email link)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-longer-Passphrase-2024"


def signup(client, **overrides):
    data = {
        "username": "grace",
        "email": "",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **overrides,
    }
    return client.post(reverse("accounts:signup"), data)


def test_signup_page_has_labelled_fields(client):
    html = client.get(reverse("accounts:signup")).content.decode()
    for field in ("id_username", "id_email", "id_password1", "id_password2"):
        assert f'for="{field}"' in html


def test_signup_creates_the_account_logs_in_and_goes_to_progress(client):
    response = signup(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("lessons:progress")
    user = get_user_model().objects.get(username="grace")
    assert user.email == ""
    assert int(client.session["_auth_user_id"]) == user.pk
    page = client.get(response["Location"]).content.decode()
    assert "Welcome, grace" in page


def test_signup_follows_a_safe_next_and_ignores_an_unsafe_one(client):
    response = signup(client, username="ada", next="/lessons/x/quiz/")
    assert response["Location"] == "/lessons/x/quiz/"
    client.logout()
    response = signup(client, username="bob", next="https://evil.example/")
    assert response["Location"] == reverse("lessons:progress")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password2": "something-else-entirely"}, "password fields didn"),
        ({"password1": "123", "password2": "123"}, "too short"),
        ({"email": "not-an-email"}, "valid email"),
        ({"username": ""}, "This field is required"),
    ],
)
def test_signup_errors_rerender_with_400_and_create_nothing(client, overrides, message):
    response = signup(client, **overrides)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not get_user_model().objects.exists()
    assert "_auth_user_id" not in client.session


def test_signup_refuses_a_taken_username_or_email(client):
    UserFactory(username="grace", email="grace@example.com")
    assert signup(client).status_code == 400
    response = signup(client, username="grace2", email="GRACE@example.com")
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_login_and_logout_by_post(client):
    user = UserFactory()
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("lessons:progress")
    # GET on logout only shows a confirmation page; it does not log out.
    confirm = client.get(reverse("accounts:logout"))
    assert confirm.status_code == 200
    assert "_auth_user_id" in client.session
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_login_with_a_wrong_password_fails_politely(client):
    user = UserFactory()
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_nav_shows_account_links(client):
    html = client.get(reverse("lessons:progress")).content.decode()
    assert reverse("accounts:login") in html
    assert reverse("accounts:signup") in html
    client.force_login(UserFactory())
    html = client.get(reverse("lessons:progress")).content.decode()
    assert f'action="{reverse("accounts:logout")}"' in html
    assert reverse("lessons:gradebook") not in html


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        reverse("accounts:password-change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-change-done")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_change_needs_login(client):
    response = client.get(reverse("accounts:password-change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_password_reset_by_email_link(client):
    user = UserFactory(email="lin@example.com")
    response = client.post(reverse("accounts:password-reset"), {"email": "lin@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == reverse("accounts:password-reset-complete")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # The link works once.
    again = client.get(link, follow=True)
    assert "doesn" in again.content.decode()


def test_password_reset_for_unknown_email_sends_nothing_but_says_the_same(client):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []
