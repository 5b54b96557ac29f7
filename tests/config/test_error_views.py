"""The JSON API answers its errors in JSON: oversize bodies, unknown paths, CSRF refusals.

Pages keep their HTML error pages. (A bad-input sweep found an oversize body to the JSON
API answered with an HTML error page.)
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

API = "/demos/api/tokenize/"


def test_an_oversize_body_to_the_api_is_a_json_413_that_names_the_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = Client().post(
        API, data=json.dumps({"text": "x" * 5000}), content_type="application/json"
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "The request body is too large: the limit is 1,000 bytes."}


def test_an_unknown_api_address_is_a_json_404():
    response = Client().get("/demos/api/no-such-thing/here/")
    assert response.status_code == 404
    assert response.json() == {"error": "There is nothing at this address."}


def test_a_page_that_isnt_there_is_still_an_html_page():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_client_that_asks_for_json_gets_json():
    response = Client().get("/no-such-page/", HTTP_ACCEPT="application/json")
    assert response.status_code == 404 and response.json()["error"]


def test_an_api_post_without_a_csrf_token_is_a_json_403():
    response = Client(enforce_csrf_checks=True).post(
        API, data=json.dumps({"text": "Hello there."}), content_type="application/json"
    )
    assert response.status_code == 403
    assert "X-CSRFToken" in response.json()["error"]


def test_a_page_post_without_a_csrf_token_keeps_djangos_page():
    response = Client(enforce_csrf_checks=True).post("/lessons/bert/read/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
