"""What a learner's browser does, over real HTTP: run a demo and follow its long-poll the
way htmx does, take a quiz by reading the page's inputs. Shared by the fault tests and the
load driver (``tools/load_driver.py``)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from .stack import Browser, Response, check_paths, page_attempt_token, quiz_inputs, submit_path

STOP_POLLING = 286
_STATE_RE = re.compile(r'data-state="([a-z]+)"')
# What keeps a result asking the server again: htmx polling, SSE, or a <meta> refresh.
_STILL_POLLING_RE = re.compile(
    r"/poll/|/events\b|/stream\b|sse-connect|http-equiv=\"refresh\"", re.I
)


class _Followers(HTMLParser):
    """Where a result partial asks next, as htmx would: a long-poll ``hx-get`` fired on
    load, an ``sse-connect`` stream, and the ``hx-get`` fired when that stream ends."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.poll: str | None = None
        self.sse: str | None = None
        self.after_sse: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        trigger = values.get("hx-trigger", "")
        url = values.get("hx-get", "")
        if url and "/poll/" in url and "load" in trigger and self.poll is None:
            self.poll = url
        if values.get("sse-connect") and self.sse is None:
            self.sse = values["sse-connect"]
        if url and trigger.startswith("sse:") and self.after_sse is None:
            self.after_sse = url


def followers(html: str) -> _Followers:
    parser = _Followers()
    parser.feed(html)
    return parser


def result_state(html: str) -> str | None:
    match = _STATE_RE.search(html)
    return match.group(1) if match else None


def still_polling(html: str) -> bool:
    """True when the page would keep asking the server (a spinner left running)."""
    return bool(_STILL_POLLING_RE.search(html))


def task_id_from(response: Response) -> str | None:
    location = response.header("hx-push-url") or response.header("location") or ""
    match = re.search(r"/demos/results/([A-Za-z0-9-]+)/", location)
    return match.group(1) if match else None


@dataclass
class DemoRun:
    submit: Response
    task_id: str | None
    final: Response | None = None
    polls: int = 0
    seconds: float = 0.0

    @property
    def state(self) -> str | None:
        return result_state(self.final.text) if self.final is not None else None


def demo_submit(browser: Browser, kind: str, data: dict) -> Response:
    """Submit a demo form with htmx, as the page's form does (after loading the page)."""
    if not browser.csrf_token:
        browser.get(f"/demos/{kind}/")
    return browser.post(f"/demos/{kind}/", data, htmx=True)


def demo_follow(
    browser: Browser,
    submit: Response,
    *,
    timeout: float,
    on_poll: Callable[[Response], None] | None = None,
) -> DemoRun:
    """Follow a result the way htmx does until nothing asks the server any more: long-poll
    (until 286), or read the SSE stream to its end and fetch what its end triggers."""
    run = DemoRun(submit=submit, task_id=task_id_from(submit))
    if submit.status != 200 or run.task_id is None:
        run.final = submit
        return run
    started = time.monotonic()
    response = submit
    while time.monotonic() - started < timeout:
        follow = followers(response.text)
        if follow.poll:
            response = browser.get(follow.poll, htmx=True)
        elif follow.sse:
            stream = browser.get(follow.sse, headers={"Accept": "text/event-stream"})
            if stream.status != 200 or not follow.after_sse:
                run.final = stream
                break
            response = browser.get(follow.after_sse, htmx=True)
        else:
            run.final = response
            break
        run.polls += 1
        if on_poll is not None:
            on_poll(response)
        if response.status not in (200, STOP_POLLING):
            run.final = response
            break
    run.seconds = time.monotonic() - started
    return run


@dataclass
class QuizPage:
    response: Response
    submit_path: str | None
    check_paths: dict[int, str]
    options: dict[str, list[str]]  # "q-<id>" -> choice ids ([] for a text answer)
    kinds: dict[str, str]  # "q-<id>" -> radio | checkbox | text

    @property
    def token(self) -> str | None:
        return page_attempt_token(self.response.text)

    @property
    def start_fields(self) -> dict[str, str]:
        """The hidden fields a new quiz page sends with its first answer (the token and the
        choice order it showed); none once the attempt is started."""
        return dict(
            re.findall(
                r'<input type="hidden" name="(attempt|seed)" value="([^"]*)"', self.response.text
            )
        )


def quiz_open(browser: Browser, slug: str) -> QuizPage:
    response = browser.get(f"/lessons/{slug}/quiz/")
    inputs = quiz_inputs(response.text)
    return QuizPage(
        response=response,
        submit_path=submit_path(response.text),
        check_paths=check_paths(response.text),
        options=inputs.options,
        kinds=inputs.kinds,
    )


@dataclass(frozen=True)
class Key:
    """The right answers of a quiz's questions, read from the database by the harness
    (never from the page: the page must not reveal them)."""

    correct_choices: dict[int, frozenset[int]]  # question id -> correct choice ids
    accepted: dict[int, tuple[str, ...]]  # short-text question id -> accepted answers


def plan_answers(
    page: QuizPage, key: Key, right: Callable[[int], bool]
) -> tuple[list[tuple[str, str]], float, dict[int, bool]]:
    """Form data answering every question on ``page``: right when ``right(index)``, else
    wrong; and the score the server must give (right answers / questions).

    Wrong answers are unambiguous under every scoring rule: a single wrong choice (which
    scores 0 with or without partial credit) or a blank text answer.
    """
    data: list[tuple[str, str]] = []
    verdicts: dict[int, bool] = {}
    for index, name in enumerate(page.kinds):
        question_id = int(name[2:])
        kind = page.kinds[name]
        want = right(index)
        if kind in ("radio", "checkbox"):
            correct = key.correct_choices[question_id]
            offered = [int(value) for value in page.options[name]]
            wrong = [pk for pk in offered if pk not in correct]
            if want or not wrong:
                picks = sorted(correct) if kind == "checkbox" else sorted(correct)[:1]
                want = True
            else:
                picks = wrong[:1]
            data.extend((name, str(pk)) for pk in picks)
        else:
            accepted = key.accepted.get(question_id) or ()
            if want and accepted:
                data.append((name, accepted[0]))
            else:
                want = False
        verdicts[question_id] = want
    expected = sum(verdicts.values()) / len(verdicts) if verdicts else 0.0
    data.extend(page.start_fields.items())
    return data, expected, verdicts


KEY_SQL_CHOICES = "SELECT question_id, id FROM lessons_choice WHERE is_correct = %s"
KEY_SQL_ACCEPTED = "SELECT question_id, text FROM lessons_acceptedanswer ORDER BY id"


def key_from_rows(choice_rows: list[tuple], accepted_rows: list[tuple]) -> Key:
    correct: dict[int, set[int]] = {}
    for question_id, choice_id in choice_rows:
        correct.setdefault(int(question_id), set()).add(int(choice_id))
    accepted: dict[int, list[str]] = {}
    for question_id, text in accepted_rows:
        accepted.setdefault(int(question_id), []).append(str(text))
    return Key(
        correct_choices={k: frozenset(v) for k, v in correct.items()},
        accepted={k: tuple(v) for k, v in accepted.items()},
    )


_REFRESH_RE = re.compile(r'http-equiv="refresh"\s+content="(\d+)', re.I)


def follow_plain(
    browser: Browser,
    path: str,
    *,
    timeout: float,
    on_page: Callable[[Response], None] | None = None,
) -> DemoRun:
    """A browser without JavaScript: load the result page, and reload it as its
    ``<meta http-equiv="refresh">`` says until the page stops asking."""
    started = time.monotonic()
    response = browser.get(path)
    run = DemoRun(submit=response, task_id=path.rstrip("/").rsplit("/", 1)[-1])
    while True:
        if on_page is not None:
            on_page(response)
        match = _REFRESH_RE.search(response.text)
        if response.status != 200 or match is None or time.monotonic() - started > timeout:
            break
        time.sleep(int(match.group(1)))
        response = browser.get(path)
        run.polls += 1
    run.final = response
    run.seconds = time.monotonic() - started
    return run
