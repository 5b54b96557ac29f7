from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from lessons.learners import SESSION_KEY, learner_anon_id, learner_for_request
from tests.factories import UserFactory


@pytest.fixture
def request_with_session():
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    return request


def test_creates_and_keeps_a_uuid_in_the_session(request_with_session):
    first = learner_anon_id(request_with_session)

    assert str(uuid.UUID(first)) == first
    assert request_with_session.session[SESSION_KEY] == first
    assert learner_anon_id(request_with_session) == first


def test_create_false_returns_empty_and_stores_nothing(request_with_session):
    assert learner_anon_id(request_with_session, create=False) == ""
    assert SESSION_KEY not in request_with_session.session


def test_create_false_returns_an_existing_id(request_with_session):
    existing = learner_anon_id(request_with_session)

    assert learner_anon_id(request_with_session, create=False) == existing


@pytest.mark.parametrize("tampered", ["not-a-uuid", 12, "", None, ["x"]])
def test_tampered_session_values_are_replaced(request_with_session, tampered):
    request_with_session.session[SESSION_KEY] = tampered

    assert learner_anon_id(request_with_session, create=False) == ""
    fresh = learner_anon_id(request_with_session)
    assert str(uuid.UUID(fresh)) == fresh


@pytest.mark.django_db
def test_learner_for_request_prefers_the_logged_in_user(request_with_session):
    user = UserFactory()
    request_with_session.user = user

    learner = learner_for_request(request_with_session)

    assert learner.user == user
    assert learner.anon_id == ""
    assert SESSION_KEY not in request_with_session.session


def test_learner_for_request_anonymous(request_with_session):
    assert learner_for_request(request_with_session, create=False).is_known is False

    learner = learner_for_request(request_with_session)

    assert learner.user is None
    assert learner.is_known
    assert learner.anon_id == request_with_session.session[SESSION_KEY]
