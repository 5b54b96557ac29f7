"""Brute force and abuse: login lockout (django-axes), sign-up and demo rate limits.

Logins: five wrong passwords for one username from one address pause that pair for 15
minutes with a page that says so; the same username from another address still logs in
(an attacker can't lock a learner out), the pause ends on its own and failing during it
doesn't extend it. Sign-ups, password resets and demos are counted per address (demos per
user too); the mails the account pages send are capped per mailbox.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
LEARNER_HOME = "198.51.100.20"
LOGIN = "/accounts/login/"


def login(client: Client, username: str, password: str, ip: str, url: str = LOGIN):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_five_wrong_passwords_pause_that_username_from_that_address_only():
    user = UserFactory(username="alice")
    attacker = Client()
    for attempt in range(1, 5):
        response = login(attacker, "alice", f"guess-{attempt}", ATTACKER)
        assert response.status_code == 200, attempt  # the form again, with its error
    locked = login(attacker, "alice", "guess-5", ATTACKER)
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Too many login attempts" in html
    assert "Try again in 15 minutes" in html
    assert locked["Retry-After"] == str(15 * 60)
    # Even the right password is refused from there now...
    assert login(attacker, "alice", DEFAULT_PASSWORD, ATTACKER).status_code == 429
    # ...but alice, from her own address, logs straight in: no lock-out by an attacker.
    own = Client()
    response = login(own, "alice", DEFAULT_PASSWORD, LEARNER_HOME)
    assert response.status_code == 302
    assert int(own.session["_auth_user_id"]) == user.pk
    # Another username from the attacker's address isn't paused either.
    UserFactory(username="bob")
    assert login(Client(), "bob", DEFAULT_PASSWORD, ATTACKER).status_code == 302


def test_the_pause_ends_on_its_own_and_failing_meanwhile_does_not_extend_it():
    UserFactory(username="carol")
    attacker = Client()
    for attempt in range(5):
        login(attacker, "carol", f"wrong-{attempt}", ATTACKER)
    record = AccessAttempt.objects.get(username="carol", ip_address=ATTACKER)
    locked_at = record.attempt_time
    for attempt in range(5):  # hammering on during the pause...
        assert login(attacker, "carol", f"more-{attempt}", ATTACKER).status_code == 429
    record.refresh_from_db()
    assert record.attempt_time == locked_at  # ...doesn't push the end further away
    # 14 minutes later: still paused, and the page counts down.
    AccessAttempt.objects.filter(pk=record.pk).update(
        attempt_time=locked_at - timedelta(minutes=14)
    )
    response = login(attacker, "carol", DEFAULT_PASSWORD, ATTACKER)
    assert response.status_code == 429
    assert "Try again in 1 minute." in response.content.decode()
    # 16 minutes later: over.
    AccessAttempt.objects.filter(pk=record.pk).update(
        attempt_time=locked_at - timedelta(minutes=16)
    )
    assert login(attacker, "carol", DEFAULT_PASSWORD, ATTACKER).status_code == 302


def test_a_successful_login_clears_earlier_failures():
    UserFactory(username="dave")
    client = Client()
    for attempt in range(4):
        login(client, "dave", f"typo-{attempt}", LEARNER_HOME)
    assert login(client, "dave", DEFAULT_PASSWORD, LEARNER_HOME).status_code == 302
    client.post(reverse("accounts:logout"))
    for attempt in range(4):  # four more typos are fine again
        assert login(Client(), "dave", f"again-{attempt}", LEARNER_HOME).status_code == 200


def test_the_admin_login_is_throttled_too():
    StaffUserFactory(username="teacher")
    attacker = Client()
    url = reverse("admin:login")
    for attempt in range(4):
        assert login(attacker, "teacher", f"x{attempt}", ATTACKER, url).status_code == 200
    response = login(attacker, "teacher", "x5", ATTACKER, url)
    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()


# --- Sign-up -------------------------------------------------------------------------------


def signup(client: Client, username: str, ip: str):
    password = "Quite-long-passphrase-2024"
    return client.post(
        reverse("accounts:signup"),
        {"username": username, "email": "", "password1": password, "password2": password},
        REMOTE_ADDR=ip,
    )


def test_sign_ups_are_rate_limited_per_address(test_redis, settings):
    settings.SIGNUP_RATE_LIMIT_IP = "3/h"
    for n in range(3):
        assert signup(Client(), f"newbie{n}", ATTACKER).status_code == 302
    refused = signup(Client(), "newbie3", ATTACKER)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many accounts were created from your network" in refused.content.decode()
    assert not get_user_model().objects.filter(username="newbie3").exists()
    # The form keeps what was typed (but never the password).
    assert 'value="newbie3"' in refused.content.decode()
    # Someone elsewhere signs up as usual.
    assert signup(Client(), "elsewhere", LEARNER_HOME).status_code == 302


def test_sign_up_still_works_when_the_rate_limit_cache_is_down(settings):
    settings.SIGNUP_RATE_LIMIT_IP = "1/h"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    for n in range(3):
        assert signup(Client(), f"cacheless{n}", ATTACKER).status_code == 302


def test_notices_to_one_mailbox_are_capped_and_the_sign_ups_look_the_same(test_redis, settings):
    from django.core import mail

    settings.SIGNUP_NOTICE_RATE_LIMIT_EMAIL = "2/h"
    UserFactory(username="owner", email="owner@example.com")
    password = "Quite-long-passphrase-2024"
    for n in range(4):
        response = Client().post(
            reverse("accounts:signup"),
            {
                "username": f"stranger{n}",
                "email": "owner@example.com",
                "password1": password,
                "password2": password,
            },
            REMOTE_ADDR=ATTACKER,
        )
        assert response.status_code == 302, n
        assert response["Location"] == reverse("lessons:progress")
    assert [m.to for m in mail.outbox] == [["owner@example.com"]] * 2
    assert get_user_model().objects.filter(username__startswith="stranger", email="").count() == 4


# --- Password reset ----------------------------------------------------------------------------


def reset(client: Client, email: str, ip: str):
    return client.post(reverse("accounts:password-reset"), {"email": email}, REMOTE_ADDR=ip)


def test_reset_mails_to_one_address_are_capped_and_the_page_says_the_same(test_redis, settings):
    from django.core import mail

    settings.PASSWORD_RESET_RATE_LIMIT_EMAIL = "3/h"
    UserFactory(username="lin", email="lin@example.com")
    UserFactory(username="max", email="max@example.com")
    done = reverse("accounts:password-reset-done")
    # Six requests in a row, from six addresses, in any case: three mails, six equal answers.
    for n, email in enumerate(["lin@example.com", "LIN@example.com"] * 3):
        response = reset(Client(), email, f"198.51.100.{n + 1}")
        assert response.status_code == 302, n
        assert response["Location"] == done
    assert [m.to for m in mail.outbox] == [["lin@example.com"]] * 3
    page = Client().get(done)
    assert "Check your email" in page.content.decode()
    # Another mailbox has its own count; an address without an account answers the same.
    assert reset(Client(), "max@example.com", LEARNER_HOME)["Location"] == done
    assert mail.outbox[-1].to == ["max@example.com"]
    for n in range(5):
        assert reset(Client(), "nobody@example.com", LEARNER_HOME)["Location"] == done, n
    assert len(mail.outbox) == 4


def test_reset_requests_are_rate_limited_per_client_address(test_redis, settings):
    from django.core import mail

    settings.PASSWORD_RESET_RATE_LIMIT_IP = "2/h"
    for n in range(2):
        UserFactory(username=f"user{n}", email=f"user{n}@example.com")
        assert reset(Client(), f"user{n}@example.com", ATTACKER).status_code == 302
    UserFactory(username="user2", email="user2@example.com")
    refused = reset(Client(), "user2@example.com", ATTACKER)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    html = refused.content.decode()
    assert "Too many password resets were asked for from your network" in html
    assert "try again in" in html and "minute" in html
    assert 'value="user2@example.com"' in html  # the form keeps what was typed
    assert len(mail.outbox) == 2
    # A learner elsewhere gets their link as usual.
    assert reset(Client(), "user2@example.com", LEARNER_HOME).status_code == 302
    assert len(mail.outbox) == 3 and mail.outbox[-1].to == ["user2@example.com"]


def test_password_reset_still_works_when_the_rate_limit_cache_is_down(settings):
    from django.core import mail

    settings.PASSWORD_RESET_RATE_LIMIT_IP = "1/h"
    settings.PASSWORD_RESET_RATE_LIMIT_EMAIL = "1/h"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    UserFactory(username="lin", email="lin@example.com")
    for _ in range(2):
        assert reset(Client(), "lin@example.com", ATTACKER).status_code == 302
    assert len(mail.outbox) == 2


# --- Demos -------------------------------------------------------------------------------------


def demo(client: Client, ip: str, n: int):
    return client.post("/demos/api/tokenize/", {"text": f"request number {n}"}, REMOTE_ADDR=ip)


def test_demos_are_rate_limited_per_user_and_per_address(test_redis, fake_ready_worker, settings):
    settings.DEMO_RATE_LIMIT_USER = "3/m"
    settings.DEMO_RATE_LIMIT_IP = "5/m"
    first, second = Client(), Client()
    first.force_login(UserFactory())
    second.force_login(UserFactory())
    for n in range(3):
        assert demo(first, ATTACKER, n).status_code == 202
    refused = demo(first, ATTACKER, 3)
    assert refused.status_code == 429  # the user's own limit
    assert "Wait" in refused.json()["error"] and int(refused["Retry-After"]) > 0
    for n in range(2):
        assert demo(second, ATTACKER, 10 + n).status_code == 202
    assert demo(second, ATTACKER, 12).status_code == 429  # the address's limit
    # Another address is counted on its own; the page form says it in words too.
    assert demo(Client(), LEARNER_HOME, 20).status_code == 202
    page = Client().post("/demos/tokenize/", {"text": "x"}, REMOTE_ADDR=ATTACKER)
    assert page.status_code == 429
    assert "Wait" in page.content.decode() and page["Retry-After"]
