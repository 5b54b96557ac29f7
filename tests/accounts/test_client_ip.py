"""The learner's own address behind a proxy (accounts/client.py), and what counts by it.

Without CLIENT_IP_HEADER every request counts against REMOTE_ADDR, whatever headers it
sends. Behind a proxy the address comes from the header the proxy sets; forged entries to
the left of the trusted hops are ignored, so a learner can't pick the address they are
counted against.
"""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from accounts.client import client_ip, meta_key
from tests.factories import DEFAULT_PASSWORD, UserFactory

PROXY = "10.0.0.2"
LEARNER = "198.51.100.20"
CLASSMATE = "198.51.100.21"
FORGED = "203.0.113.99"


def ask(**meta):
    return client_ip(RequestFactory().get("/", **meta))


def test_meta_key_names_the_header_as_django_does():
    assert meta_key("X-Forwarded-For") == "HTTP_X_FORWARDED_FOR"
    assert meta_key(" x-real-ip ") == "HTTP_X_REAL_IP"


def test_without_a_header_setting_forwarded_headers_are_ignored(settings):
    settings.CLIENT_IP_HEADER = ""
    assert ask(REMOTE_ADDR=LEARNER, HTTP_X_FORWARDED_FOR=FORGED) == LEARNER


def test_behind_one_proxy_the_right_most_forwarded_address_counts(settings):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1
    assert ask(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=LEARNER) == LEARNER
    # A client that sends its own X-Forwarded-For: nginx appends the real address.
    assert ask(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{FORGED}, {LEARNER}") == LEARNER


def test_behind_two_proxies_the_second_from_the_right_counts(settings):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 2
    forwarded = f"{FORGED}, {LEARNER}, 10.0.0.1"
    assert ask(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded) == LEARNER
    # Fewer hops than proxies: every entry came from one of ours; the first is the client.
    assert ask(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=LEARNER) == LEARNER


def test_a_client_straight_on_the_internet_cant_choose_its_address(settings):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    # not a proxy of ours: the header it sends is its own invention
    assert ask(REMOTE_ADDR=LEARNER, HTTP_X_FORWARDED_FOR=FORGED) == LEARNER
    settings.TRUSTED_PROXY_IPS = "192.0.2.10"
    assert ask(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=LEARNER) == PROXY
    assert ask(REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=LEARNER) == LEARNER


def test_the_trusted_proxies_setting_is_checked(settings):
    from accounts.client import check_settings

    assert check_settings() == []
    settings.TRUSTED_PROXY_IPS = "10.0.0.0/8, not-a-network"
    assert [error.id for error in check_settings()] == ["accounts.E001"]
    settings.TRUSTED_PROXY_IPS = "10.0.0.0/8"
    settings.TRUSTED_PROXY_COUNT = 0
    assert [error.id for error in check_settings()] == ["accounts.E002"]


def test_a_single_value_header(settings):
    settings.CLIENT_IP_HEADER = "X-Real-IP"
    assert ask(REMOTE_ADDR=PROXY, HTTP_X_REAL_IP=LEARNER) == LEARNER


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("", PROXY),  # no header (a request from inside the network): the peer itself
        ("not-an-address", PROXY),
        ("  ,  , ", PROXY),
        (f"{LEARNER}:5123", LEARNER),  # a port after an IPv4 address
        ("[2001:db8:1:2:3::9]:443", "2001:db8:1:2::"),  # IPv6 with a port, cut to its /64
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
        ("::ffff:198.51.100.20", LEARNER),  # an IPv4 address written as IPv6
    ],
)
def test_odd_headers(settings, forwarded, expected):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1
    assert ask(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded) == expected


def test_no_valid_address_at_all_is_none(settings):
    settings.CLIENT_IP_HEADER = ""
    assert ask(REMOTE_ADDR="") is None
    assert ask(REMOTE_ADDR="junk") is None


@pytest.mark.django_db
def test_behind_the_proxy_each_learner_has_their_own_demo_quota(
    test_redis, fake_ready_worker, settings
):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1
    settings.DEMO_RATE_LIMIT_IP = "2/m"

    def demo(forwarded: str, n: int):
        return Client().post(
            "/demos/api/tokenize/",
            {"text": f"proxied request {n}"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    assert demo(LEARNER, 1).status_code == 202
    assert demo(LEARNER, 2).status_code == 202
    assert demo(LEARNER, 3).status_code == 429
    # A forged left-hand entry doesn't buy a fresh quota...
    assert demo(f"{FORGED}, {LEARNER}", 4).status_code == 429
    # ...and a classmate behind the same proxy has their own.
    assert demo(CLASSMATE, 5).status_code == 202


@pytest.mark.django_db
def test_behind_the_proxy_a_lockout_holds_the_attackers_address_only(settings):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="dana")

    def login(forwarded: str, password: str):
        return Client().post(
            "/accounts/login/",
            {"username": "dana", "password": password},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    for attempt in range(5):
        login(FORGED, f"guess-{attempt}")
    assert login(FORGED, "guess-again").status_code == 429
    # dana, through the same proxy from her own address, is not locked out.
    assert login(LEARNER, DEFAULT_PASSWORD).status_code == 302
