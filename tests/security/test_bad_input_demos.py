"""Property-based: whatever goes into a demo, through the form, htmx or the JSON API, the
answer is a clear one and nothing is saved half-way.

Inputs (hypothesis): huge, empty and whitespace text; control characters and invisible
marks; mixed scripts, combining marks and emoji; HTML and script; many ``[MASK]``s;
NaN, infinities, negative, huge and malformed numbers; unknown fields; and through the
JSON API wrong types (null, booleans, lists, objects, floats for strings, a JSON array or
string instead of an object, invalid JSON).

A ready worker is announced on a private queue (nobody consumes it), so valid input is
accepted (303/202 and exactly one task queued with one event stream) and invalid input is
refused (400 with a sentence naming the problem, no task, no stream). Never a 5xx, never
a traceback.
"""

from __future__ import annotations

import json
import math

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.contract import kinds

# No database here (demos don't touch it), so no test transaction either: the service
# enqueues at once instead of on a commit that a rolled-back test never reaches.

HX = {"HTTP_HX_REQUEST": "true"}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

CONTROL = "".join(chr(c) for c in [*range(0, 32), 127, *range(0x80, 0xA0)])
INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2069\ufeff"
MIXED = "aZé中文عربيहिंदीкириллица😀🙂👩‍👩‍👧\u0301\u0308ꙮ𝔘𝕟𝕚"
SPECIAL_TEXTS = [
    "",
    " ",
    "\n\t  \r\n",
    "[MASK]",
    "[MASK] " * 6,
    "[mask] <mask> [ MASK ]",
    "[MASK]" * 200,
    "<script>alert(1)</script> [MASK]",
    "<img src=x onerror=alert(1)>",
    "a" * 401,
    "x" * 100_000,
    "🙂" * 400,
    "\x00" * 50,
    "\ud7ff\ue000",
    "the cat sat on the [MASK] .",
    "ab" * 64,
    "word " * 70,
    "{{ 7|add:7 }} {% debug %}",
    "\u202egnp.exe",
    "ＡＢＣ［ＭＡＳＫ］",
]
SPECIAL_NUMBERS = [
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1",
    "0",
    "1",
    "5",
    "100",
    "101",
    "9" * 25,
    "-9" * 10,
    "1.5",
    "1e2",
    "0x10",
    "١٢",
    "+5",
    " 7 ",
    "5\x00",
    "true",
    "[]",
    "1_0",
    "−3",
]


texts = st.one_of(
    st.sampled_from(SPECIAL_TEXTS),
    st.text(max_size=500),
    st.text(alphabet=st.sampled_from(CONTROL + INVISIBLE + MIXED + " [MASK]<>&\"'"), max_size=300),
    st.builds(lambda n, w: ("[MASK] " * n) + w, st.integers(0, 40), st.text(max_size=20)),
)
numbers = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
json_values = st.one_of(
    texts,
    numbers,
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
NUMERIC_FIELDS = {"top_k", "max_new_tokens", "temperature", "top_p", "seed"}


def form_params(kind: str):
    fields = {}
    for name in kinds.require(kind).fields:
        if name == "do_sample":
            strategy = st.sampled_from(["", "on", "true", "1", "0", "false", "maybe", "∞"])
        elif name in NUMERIC_FIELDS:
            strategy = numbers
        else:
            strategy = texts
        fields[name] = st.one_of(st.none(), strategy)  # None: the field is left out
    extra = st.dictionaries(
        st.sampled_from(["extra", "csrfmiddlewaretoken", "q", "x" * 50]), texts, max_size=1
    )
    return st.tuples(st.fixed_dictionaries(fields), extra).map(
        lambda pair: {**{k: v for k, v in pair[0].items() if v is not None}, **pair[1]}
    )


def json_params(kind: str):
    fields = {name: st.one_of(st.none(), json_values) for name in kinds.require(kind).fields}
    return st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not None}
    )


class State:
    def __init__(self, redis_client, queue: str) -> None:
        self.redis = redis_client
        self.queue = queue

    def snapshot(self) -> tuple[frozenset, int]:
        """The demo streams that exist, and the test queue's length. (Streams of earlier
        tests expire on their own meanwhile: only new ones count.)"""
        streams = frozenset(self.redis.scan_iter(match="demo:events:*", count=1000))
        return streams, self.redis.llen(self.queue)


@pytest.fixture
def fuzz_env(test_redis, fake_ready_worker, settings, tiny_models_for_security):
    settings.MODELS_DIR = tiny_models_for_security  # token limits use the real tokenizers
    settings.INFERENCE_PROFILE = "tiny"
    settings.DEMO_RATE_LIMIT_USER = "100000/m"
    settings.DEMO_RATE_LIMIT_IP = "100000/m"
    return State(test_redis, settings.INFERENCE_QUEUE)


def assert_clear(response, channel: str) -> bool:
    """The response is a clear yes or no; returns True when the demo was accepted."""
    status = response.status_code
    body = response.content.decode("utf-8", errors="replace")
    assert status < 500, (channel, status, body[-800:])
    assert "Traceback" not in body
    if channel == "plain":
        assert status in (303, 400), (status, body[-800:])
        if status == 400:
            assert 'role="alert"' in body or "errorlist" in body
        return status == 303
    if channel == "htmx":
        assert status == 200, (status, body[-800:])
        demo_status = response.get("X-Demo-Status")
        if demo_status:
            assert demo_status == "400", (demo_status, body[-800:])
            assert 'role="alert"' in body or "errorlist" in body
            return False
        assert response.get("HX-Push-Url")
        return True
    assert status in (200, 202, 400), (status, body[-800:])
    data = json.loads(body)
    if status == 400:
        assert isinstance(data.get("error"), str) and data["error"].strip()
        return False
    assert data["status"] in ("queued", "cached")
    return True


def check_saved(state: State, before: tuple[frozenset, int], accepted: bool, cached: bool) -> None:
    streams, queued = state.snapshot()
    new_streams = len(streams - before[0])
    if accepted and not cached:
        assert (new_streams, queued) == (1, before[1] + 1)
    else:
        assert (new_streams, queued) == (0, before[1])


@pytest.mark.parametrize("kind", kinds.names())
def test_any_form_input_gets_a_clear_answer_and_nothing_half_saved(client, fuzz_env, kind):
    @FUZZ
    @given(params=form_params(kind), htmx=st.booleans())
    def run(params, htmx):
        before = fuzz_env.snapshot()
        response = client.post(f"/demos/{kind}/", params, **(HX if htmx else {}))
        accepted = assert_clear(response, "htmx" if htmx else "plain")
        check_saved(fuzz_env, before, accepted, cached=False)

    run()


@pytest.mark.parametrize("kind", kinds.names())
def test_any_json_input_gets_a_clear_answer_and_nothing_half_saved(client, fuzz_env, kind):
    @FUZZ
    @given(params=json_params(kind))
    def run(params):
        before = fuzz_env.snapshot()
        body = json.dumps(params, allow_nan=True)
        response = client.post(f"/demos/api/{kind}/", body, content_type="application/json")
        accepted = assert_clear(response, "api")
        cached = accepted and response.json()["status"] == "cached"
        check_saved(fuzz_env, before, accepted, cached)

    run()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2, 3]",
        b'"text"',
        b"null",
        b"{",
        b'{"text": "a"' + b" " * 10,
        b"\xff\xfe\x00",
        b'{"text": "\\ud800"}',
        b'{"text": NaN}',
        b"{}" * 1000,
        pytest.param(
            b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            id="deeply-nested",
        ),
    ],
)
def test_malformed_json_bodies_are_refused_clearly(client, fuzz_env, body):
    before = fuzz_env.snapshot()
    response = client.post("/demos/api/fill-mask/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]
    check_saved(fuzz_env, before, accepted=False, cached=False)


def test_a_body_over_the_upload_limit_is_refused_not_crashed(fuzz_env):
    client = Client(raise_request_exception=False)
    huge = "x" * (3 * 1024 * 1024)
    page = client.post("/demos/fill-mask/", {"text": huge})
    assert page.status_code == 400
    api = client.post(
        "/demos/api/fill-mask/", json.dumps({"text": huge}), content_type="application/json"
    )
    assert api.status_code == 413  # the API says so in JSON, with the limit
    assert "too large" in api.json()["error"]


def test_unknown_demo_kinds_and_junk_task_ids_are_not_found(client, fuzz_env):
    for kind in ("nope", "fill_mask", "FILL-MASK", "x" * 300, "%00", "..%2F..%2Fetc"):
        assert client.post(f"/demos/api/{kind}/", {}).status_code in (404, 400)
        assert client.get(f"/demos/{kind}/").status_code == 404

    @FUZZ
    @given(
        task_id=st.text(
            alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            min_size=1,
            max_size=100,
        )
    )
    def run(task_id):
        from urllib.parse import quote

        quoted = quote(task_id, safe="")
        for path in (
            f"/demos/results/{quoted}/",
            f"/demos/results/{quoted}/poll/",
            f"/demos/api/results/{quoted}/",
            f"/demos/next-token/{quoted}/reshape/",
        ):
            response = client.get(path)
            assert response.status_code in (404, 400, 286), (path, response.status_code)

    run()


@FUZZ
@given(wait=numbers)
def test_the_api_wait_parameter_is_checked(client, fuzz_env, wait):
    response = client.get("/demos/api/results/0123456789abcdef0123456789abcdef/", {"wait": wait})
    assert response.status_code in (400, 404), (wait, response.status_code)
    try:
        value = float(wait)
    except ValueError:
        value = math.nan
    if response.status_code == 404:
        assert 0 <= value <= 30


@FUZZ
@given(temperature=numbers, top_k=numbers, top_p=numbers, htmx=st.booleans(), as_json=st.booleans())
def test_reshaping_controls_never_crash(client, fuzz_env, temperature, top_k, top_p, htmx, as_json):
    query = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    if as_json:
        query["format"] = "json"
    response = client.get(
        "/demos/next-token/0123456789abcdef0123456789abcdef/reshape/", query, **(HX if htmx else {})
    )
    assert response.status_code in (200, 286, 400, 404), response.status_code
