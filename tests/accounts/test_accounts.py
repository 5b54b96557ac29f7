"""Accounts: sign up, log in/out, password change and reset (with the email link)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.html_support import without_csrf_tokens

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


def test_signup_refuses_a_taken_username(client):
    UserFactory(username="grace", email="grace@example.com")
    response = signup(client)
    assert response.status_code == 400
    assert "A user with that username already exists." in response.content.decode()
    assert get_user_model().objects.count() == 1


# --- A sign-up never tells whether an address has an account ----------------------------------

OWNER_ADDRESS = "owner@example.com"


def seen_by_the_visitor(response, client, *, username: str, email: str) -> tuple:
    """What a sign-up shows its visitor: the status, where it goes, and the page there (or the
    form again), with CSRF tokens and what the visitor typed blanked out."""
    html = response.content.decode()
    location = response.get("Location", "")
    if response.status_code == 302:
        html = client.get(location).content.decode()
    html = without_csrf_tokens(html).replace(username, "NAME").replace(email, "EMAIL")
    return response.status_code, location, html


@pytest.mark.parametrize(
    "password2", [NEW_PASSWORD, "something-else-entirely"], ids=["accepted", "refused"]
)
def test_signup_answers_the_same_whether_the_address_has_an_account_or_not(password2):
    owner = UserFactory(username="owner", email=OWNER_ADDRESS)
    fresh, taken = Client(), Client()
    new_address = signup(
        fresh, username="visitor-one", email="new@example.com", password2=password2
    )
    registered = signup(
        taken, username="visitor-two", email="OWNER@example.com", password2=password2
    )
    assert seen_by_the_visitor(
        new_address, fresh, username="visitor-one", email="new@example.com"
    ) == seen_by_the_visitor(registered, taken, username="visitor-two", email="OWNER@example.com")
    assert "already" not in registered.content.decode()
    owner.refresh_from_db()
    assert owner.email == OWNER_ADDRESS  # the owner's account is untouched


def test_signup_with_a_registered_address_creates_the_account_and_mails_its_owner(client):
    UserFactory(username="owner", email=OWNER_ADDRESS)
    response = signup(client, username="newcomer", email="Owner@Example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("lessons:progress")
    newcomer = get_user_model().objects.get(username="newcomer")
    assert int(client.session["_auth_user_id"]) == newcomer.pk
    assert newcomer.email == ""  # the address stays the owner's alone
    assert len(mail.outbox) == 1
    notice = mail.outbox[0]
    assert notice.to == [OWNER_ADDRESS]
    assert "signed up" in notice.subject and "your email address" in notice.subject
    assert '"owner"' in notice.body
    assert "http://testserver" + reverse("accounts:password-reset") in notice.body
    assert "newcomer" not in notice.body  # nothing the stranger typed reaches the owner

    # The way back the notice shows: a reset link for the owner's account, and only that.
    client.post(reverse("accounts:logout"))
    client.post(reverse("accounts:password-reset"), {"email": OWNER_ADDRESS})
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == [OWNER_ADDRESS]
    assert "Hello owner," in mail.outbox[1].body


def test_signup_with_a_new_address_sends_no_mail_and_keeps_the_address(client):
    UserFactory(username="owner", email=OWNER_ADDRESS)
    assert signup(client, email="grace@example.com").status_code == 302
    assert get_user_model().objects.get(username="grace").email == "grace@example.com"
    assert mail.outbox == []


def test_a_notice_that_cannot_be_sent_does_not_stop_the_signup(client, monkeypatch, caplog):
    UserFactory(username="owner", email=OWNER_ADDRESS)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    response = signup(client, email=OWNER_ADDRESS)
    assert response.status_code == 302
    assert get_user_model().objects.get(username="grace").email == ""
    assert "Failed to send the sign-up notice" in caplog.text


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
