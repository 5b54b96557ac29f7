"""The load driver: N simulated learners against a running site, for a bounded time.

Run it as its own process (``tools/load_test.py`` does)::

    python -m tools.load_driver --base-url http://127.0.0.1:8000 --plan plan.json \\
        --learners 50 --duration 60 --out results.json

Each learner is a thread with its own cookie jar and keep-alive connection, behaving like
a person with a browser: open the course, read a lesson (and mark it read with htmx),
open its quiz, check one answer inline (htmx), submit the rest (plain form or htmx),
look at the result and the progress page, and now and then run a demo (htmx form, then
the long-poll or SSE stream the page follows). Between actions it pauses 0.3-1.5 s.
Some learners log in first (accounts from the plan), the rest stay anonymous.

Answers are right or wrong at random; the score each submitted attempt must get is
computed here from the answer key in the plan (read from the database by the harness, not
from the pages) and written to ``results.json`` with every request's status and time.
Nothing is judged here: ``tools/load_test.py`` checks the results against the database.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.faults.flows import Key, demo_follow, follow_plain, plan_answers, quiz_open
from tests.faults.stack import Browser, Response

WORDS = ["cat", "river", "teacher", "model", "garden", "engine", "city", "song", "market"]
RATE_LIMITED_RE = re.compile(r"Wait (\d+) seconds?|too many|try again in", re.I)


def demo_request(kind: str, rng: random.Random) -> dict[str, str]:
    a, b = rng.sample(WORDS, 2)
    if kind == "fill-mask":
        return {"text": f"the {a} went to the [MASK] near the {b} .", "top_k": "5"}
    if kind == "tokenize":
        return {"text": f"unbelievably the {a}s tokenized {b}ward"}
    if kind == "next-token":
        return {"prompt": f"the {a} and the {b} were", "top_k": "10"}
    if kind == "generate":
        return {"prompt": f"the {a} saw a {b} and", "max_new_tokens": "8"}
    if kind == "attention":
        return {"text": f"the {a} chased the {b} home"}
    if kind == "embeddings":
        return {"word": a, "sentence_a": f"the {a} is here .", "sentence_b": f"a {a} and {b} ."}
    return {"sentence_a": f"the {a} was tired .", "sentence_b": f"so the {b} slept ."}


DEMO_KINDS = [
    "fill-mask",
    "tokenize",
    "next-token",
    "generate",
    "attention",
    "embeddings",
    "next-sentence",
]


@dataclass
class Record:
    learner: int
    label: str
    method: str
    path: str
    status: int
    ms: float
    at: float


@dataclass
class SubmittedAttempt:
    learner: int
    token: str
    expected: float
    questions: int
    checked_inline: int | None
    via: str  # "plain" | "htmx"


@dataclass
class DemoOutcome:
    learner: int
    kind: str
    outcome: str  # answered | rate_limited | refused | error | unfinished
    status: int
    message: str
    seconds: float


@dataclass
class Shared:
    records: list[Record] = field(default_factory=list)
    attempts: list[SubmittedAttempt] = field(default_factory=list)
    demos: list[DemoOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, item) -> None:
        with self.lock:
            getattr(self, kind).append(item)


class Learner(threading.Thread):
    def __init__(
        self,
        index: int,
        *,
        base_url: str,
        plan: dict,
        key: Key,
        deadline: float,
        shared: Shared,
        started: float,
    ) -> None:
        super().__init__(name=f"learner-{index}", daemon=True)
        self.index = index
        self.rng = random.Random(1000 + index)  # noqa: S311  (simulation, not security)
        self.browser = Browser(base_url, timeout=60)
        self.plan = plan
        self.key = key
        self.deadline = deadline
        self.shared = shared
        self.started = started
        accounts = plan.get("accounts") or []
        self.account = accounts[index] if index < len(accounts) else None

    # -- requests, recorded ------------------------------------------------------------

    def record(self, label: str, response: Response) -> Response:
        self.shared.add(
            "records",
            Record(
                self.index,
                label,
                response.method,
                response.path.split("?")[0],
                response.status,
                round(response.elapsed * 1000, 2),
                round(time.monotonic() - self.started, 3),
            ),
        )
        if response.status >= 500 and label != "demo-submit-plain":
            self.shared.add(
                "problems", f"{label} {response.method} {response.path}: {response.status}"
            )
        return response

    def get(self, label: str, path: str, **kwargs) -> Response:
        return self.record(label, self.browser.get(path, **kwargs))

    def post(self, label: str, path: str, data=None, **kwargs) -> Response:
        return self.record(label, self.browser.post(path, data, **kwargs))

    def pause(self) -> None:
        time.sleep(self.rng.uniform(0.3, 1.5))

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline

    # -- what a learner does -------------------------------------------------------------

    def run(self) -> None:
        try:
            if self.account:
                self.get("login-page", "/accounts/login/")
                response = self.post("login", "/accounts/login/", self.account)
                if response.status != 302:
                    self.shared.add(
                        "problems", f"login {self.account['username']}: {response.status}"
                    )
            while self.time_left():
                self.visit_lesson()
        except Exception as exc:  # a learner that crashes is a finding, not a silent stop
            self.shared.add("problems", f"learner {self.index} crashed: {exc!r}")
        finally:
            self.browser.close()

    def visit_lesson(self) -> None:
        slug = self.rng.choice(self.plan["lessons"])
        if self.rng.random() < 0.3:
            self.get("home", "/")
            self.pause()
        self.get("lesson", f"/lessons/{slug}/")
        self.pause()
        if self.rng.random() < 0.5:
            self.post("mark-read", f"/lessons/{slug}/read/", {}, htmx=True)
        if not self.time_left():
            return
        self.take_quiz(slug)
        if self.time_left() and self.rng.random() < 0.6:
            self.run_demo()
        if self.time_left():
            self.get("progress", "/progress/")
            self.pause()

    def take_quiz(self, slug: str) -> None:
        page = quiz_open(self.browser, slug)
        self.record("quiz", page.response)
        if page.response.status != 200 or not page.submit_path:
            return
        self.pause()
        data, expected, _ = plan_answers(page, self.key, right=lambda _i: self.rng.random() < 0.6)
        checked = None
        checkable = [qid for qid in page.check_paths if any(n == f"q-{qid}" for n, _ in data)]
        if checkable and self.rng.random() < 0.7:
            checked = self.rng.choice(checkable)
            picked = [(n, v) for n, v in data if n in (f"q-{checked}", "attempt", "seed")]
            response = self.post("check", page.check_paths[checked], picked, htmx=True)
            if response.status != 200:
                self.shared.add("problems", f"check {page.check_paths[checked]}: {response.status}")
            self.pause()
        if not self.time_left():
            return  # the attempt stays open: it must not appear as submitted
        via = "htmx" if self.rng.random() < 0.5 else "plain"
        response = self.post("submit", page.submit_path, data, htmx=via == "htmx")
        target = response.header("hx-redirect") if via == "htmx" else response.header("location")
        ok = (via == "htmx" and response.status == 200 and target) or (
            via == "plain" and response.status == 302
        )
        if not ok:
            self.shared.add(
                "problems",
                f"submit {page.submit_path} ({via}): {response.status} {response.text[-300:]!r}",
            )
            return
        self.shared.add(
            "attempts",
            SubmittedAttempt(self.index, page.token or "", expected, len(page.kinds), checked, via),
        )
        self.get("result", target)
        self.pause()

    def run_demo(self) -> None:
        kind = self.rng.choice(DEMO_KINDS)
        data = demo_request(kind, self.rng)
        if not self.browser.csrf_token:
            self.get("demo-page", f"/demos/{kind}/")
        started = time.monotonic()
        plain = self.rng.random() < 0.2
        if plain:
            response = self.post("demo-submit-plain", f"/demos/{kind}/", data)
            if response.status == 303:  # no JavaScript: the result page refreshes itself
                run = follow_plain(
                    self.browser,
                    response.header("location"),
                    timeout=30,
                    on_page=lambda r: self.record("demo-result", r),
                )
                self.demo_done(kind, run, started)
                return
        else:
            response = self.post("demo-submit", f"/demos/{kind}/", data, htmx=True)
        status = int(response.header("x-demo-status") or response.status)
        if status == 429:
            message = RATE_LIMITED_RE.search(response.text)
            outcome = "rate_limited" if message else "refused"
            self.demo_outcome(kind, outcome, 429, message.group(0) if message else "", started)
            return
        if status != 200:
            self.demo_outcome(kind, "refused", status, response.text[-200:], started)
            return
        run = demo_follow(
            self.browser, response, timeout=30, on_poll=lambda r: self.record("demo-poll", r)
        )
        self.demo_done(kind, run, started)

    def demo_done(self, kind: str, run, started: float) -> None:
        state = run.state
        outcome = {"done": "answered", "error": "error"}.get(state or "", "unfinished")
        message = ""
        if outcome == "error":
            match = re.search(r"didn.t finish.</strong>\s*([^<]+)", run.final.text)
            message = match.group(1).strip() if match else run.final.text[-200:]
        self.demo_outcome(kind, outcome, run.final.status if run.final else 0, message, started)
        self.pause()

    def demo_outcome(
        self, kind: str, outcome: str, status: int, message: str, started: float
    ) -> None:
        self.shared.add(
            "demos",
            DemoOutcome(self.index, kind, outcome, status, message, time.monotonic() - started),
        )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(shared: Shared, *, learners: int, duration: float, wall: float) -> dict:
    by_label: dict[str, dict] = {}
    for label in sorted({r.label for r in shared.records}):
        rows = [r for r in shared.records if r.label == label]
        times = [r.ms for r in rows]
        by_label[label] = {
            "count": len(rows),
            "statuses": dict(Counter(str(r.status) for r in rows)),
            "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95),
            "p99_ms": percentile(times, 99),
            "max_ms": max(times) if times else 0.0,
        }
    statuses = Counter(r.status for r in shared.records)
    return {
        "learners": learners,
        "duration_s": duration,
        "wall_s": round(wall, 2),
        "requests": len(shared.records),
        "requests_per_s": round(len(shared.records) / wall, 2) if wall else 0.0,
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "by_label": by_label,
        "attempts_submitted": len(shared.attempts),
        "demo_outcomes": dict(Counter(d.outcome for d in shared.demos)),
        "problems": shared.problems[:200],
        "problem_count": len(shared.problems),
    }


def run(base_url: str, plan: dict, *, learners: int, duration: float) -> dict:
    key = Key(
        correct_choices={int(k): frozenset(v) for k, v in plan["key"]["correct"].items()},
        accepted={int(k): tuple(v) for k, v in plan["key"]["accepted"].items()},
    )
    shared = Shared()
    started = time.monotonic()
    deadline = started + duration
    threads = [
        Learner(
            i,
            base_url=base_url,
            plan=plan,
            key=key,
            deadline=deadline,
            shared=shared,
            started=started,
        )
        for i in range(learners)
    ]
    for thread in threads:
        thread.start()
        time.sleep(min(0.05, duration / max(1, learners) / 4))  # a class arriving, not a DoS
    for thread in threads:
        thread.join(max(1.0, deadline - time.monotonic()) + 90)
    wall = time.monotonic() - started
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        shared.problems.append(f"learners still running 90 s after the end: {stuck}")
    return {
        "summary": summarize(shared, learners=learners, duration=duration, wall=wall),
        "attempts": [asdict(a) for a in shared.attempts],
        "demos": [asdict(d) for d in shared.demos],
        "records": [asdict(r) for r in shared.records],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    plan = json.loads(args.plan.read_text())
    results = run(args.base_url, plan, learners=args.learners, duration=args.duration)
    args.out.write_text(json.dumps(results, indent=1))
    summary = results["summary"]
    print(json.dumps({k: v for k, v in summary.items() if k != "by_label"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
