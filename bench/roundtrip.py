"""Demo round trip through the real site against calling the engine in-process.

For fill-mask and next-token, each repetition times, on fresh inputs (never a cache hit):

- ``inprocess``: the engine function (``inference.worker.engine.<kind>``) on the same model files,
  loaded in this process with the same loader and torch thread count as the worker: what
  every tutorial does (see ``bench/inprocess.py``);
- ``api``: ``POST /demos/api/<kind>/`` (JSON) then ``GET /demos/api/results/<id>/?wait=10``
  (the JSON long-poll) until the result is in the client's hands;
- ``htmx``: what the browser does: ``POST /demos/<kind>/`` with ``HX-Request`` (the result
  partial), then the partial's long-poll (``/demos/results/<id>/poll/?after=``) until the
  answer with status 286.

The three are interleaved within each repetition, so background load hits them alike.
Overhead, two ways: median(site) - median(in-process) (and the median of per-pair
differences), which also carries the model call's own run-to-run variation; and the time
outside the model call (site total minus the worker's ``elapsed_ms``, against the same
for in-process), which is exactly what the site adds around an identical model call.
The split of a site round trip comes from the task's own events, read afterwards:
``queued.at`` (web, client clock), ``started.at`` (worker), the result's ``elapsed_ms``
(model call) and the client's clock at the end. A last row times a repeated input,
answered from the site's result cache without the model.
"""

from __future__ import annotations

import re
import time

from bench.common import Config, log, summary, target
from bench.inprocess import InProcess
from bench.inputs import GENERATORS
from bench.stack import Client, events_of, poll_path
from tools.harness import Gunicorn

KINDS = ("fill-mask", "next-token")
OVERHEAD_TARGET_MS = 15.0
RESULT_TIMEOUT_S = 120
SEEDS = {"fill-mask": 11, "next-token": 22}
TASK_RE = re.compile(rb'data-task="([0-9a-f]{32})"')


class RoundTripError(RuntimeError):
    pass


def inprocess_call(runtime, kind: str, params: dict) -> dict:
    from inference.worker.engine.embeddings import embeddings
    from inference.worker.engine.fill_mask import fill_mask
    from inference.worker.engine.next_token import next_token

    if kind == "fill-mask":
        return fill_mask(runtime.bert, **params)
    if kind == "next-token":
        return next_token(runtime.gpt, **params).result
    if kind == "embeddings":
        return embeddings(runtime.bert, runtime.encoder, **params)
    raise ValueError(kind)


def time_inprocess(runtime, kind: str, params: dict) -> dict:
    start = time.perf_counter()
    result = inprocess_call(runtime, kind, params)
    total = (time.perf_counter() - start) * 1000
    return {"total_ms": total, "model_ms": float(result.get("elapsed_ms") or 0.0)}


def api_roundtrip(client: Client, kind: str, params: dict, *, expect: str = "queued") -> dict:
    wall0 = time.time()
    start = time.perf_counter()
    status, body = client.post_json(f"/demos/api/{kind}/", params)
    if status not in (200, 202):
        raise RoundTripError(f"submit {kind} answered {status}: {body}")
    if body.get("status") != expect:
        raise RoundTripError(f"submit {kind}: expected {expect}, got {body.get('status')}")
    submitted = time.perf_counter()
    requests = 1
    while True:
        status, outcome = client.get_json(body["api_url"] + "?wait=10")
        requests += 1
        if status != 200 or outcome.get("state") in ("done", "error"):
            break
        if time.perf_counter() - start > RESULT_TIMEOUT_S:
            raise RoundTripError(f"{kind}: no result after {RESULT_TIMEOUT_S} s")
    end = time.perf_counter()
    if status != 200 or outcome.get("state") != "done":
        raise RoundTripError(
            f"{kind} result: {status} {outcome.get('state')} {outcome.get('error')}"
        )
    return {
        "task_id": body["task_id"],
        "wall0": wall0,
        "total_ms": (end - start) * 1000,
        "submit_ms": (submitted - start) * 1000,
        "result": outcome["result"],
        "requests": requests,
    }


def htmx_roundtrip(client: Client, kind: str, params: dict) -> dict:
    wall0 = time.time()
    start = time.perf_counter()
    status, _, html = client.post_form(f"/demos/{kind}/", params, **{"HX-Request": "true"})
    if status != 200 or b"demo-error" in html:
        raise RoundTripError(f"htmx submit {kind} answered {status}: {html[:300]!r}")
    submitted = time.perf_counter()
    requests = 1
    path = poll_path(html)
    while path is not None:
        status, _, html = client.get(path, **{"HX-Request": "true"})
        requests += 1
        if status == 286:
            break
        if status != 200:
            raise RoundTripError(f"htmx poll {kind} answered {status}: {html[:300]!r}")
        path = poll_path(html)
        if requests > 50:
            raise RoundTripError("htmx poll never finished")
    end = time.perf_counter()
    if b'data-state="done"' not in html:
        raise RoundTripError(f"htmx {kind} did not finish: {html[:300]!r}")
    match = TASK_RE.search(html)
    return {
        "task_id": match.group(1).decode() if match else None,
        "wall0": wall0,
        "total_ms": (end - start) * 1000,
        "submit_ms": (submitted - start) * 1000,
        "requests": requests,
    }


def split(redis_url: str, sample: dict) -> dict | None:
    """Where a round trip's time went, from the task's events."""
    if not sample.get("task_id"):
        return None
    events = events_of(redis_url, sample["task_id"])
    by_type = {event.get("type"): event for event in events}
    queued, started, done = by_type.get("queued"), by_type.get("started"), by_type.get("done")
    if not (queued and started and done):
        return None
    model_ms = float(done["result"].get("elapsed_ms") or 0.0)
    web_ms = (queued["at"] - sample["wall0"]) * 1000
    to_worker_ms = (started["at"] - queued["at"]) * 1000
    after_ms = sample["total_ms"] - web_ms - to_worker_ms - model_ms
    return {
        "web_submit_ms": web_ms,
        "queue_to_worker_ms": to_worker_ms,
        "model_ms": model_ms,
        "result_back_ms": after_ms,
    }


def run(cfg: Config, *, web: Gunicorn, inproc: InProcess) -> dict:
    client = Client(web.port)
    section: dict = {
        "description": "HTTP submit until the complete result is in the client's hands, "
        "through gunicorn, Redis, the Celery model worker and back, against the engine "
        "function called in-process on the same model files and inputs.",
        "kinds": {},
    }
    try:
        for kind in KINDS:
            section["kinds"][kind] = _run_kind(cfg, client, kind, inproc)
    finally:
        client.close()
    section["targets"] = []
    for kind, data in section["kinds"].items():
        for transport in ("api", "htmx"):
            row = data["transports"][transport]
            total, outside = row["overhead_ms_p50"], row["overhead_outside_model_ms_p50"]
            section["targets"].append(
                target(
                    f"round-trip p50 overhead, {kind} ({transport}): site total - in-process total",
                    f"<= {OVERHEAD_TARGET_MS:g} ms",
                    total,
                    total <= OVERHEAD_TARGET_MS,
                )
            )
            section["targets"].append(
                target(
                    f"round-trip p50 overhead, {kind} ({transport}): time outside the model call",
                    f"<= {OVERHEAD_TARGET_MS:g} ms",
                    outside,
                    None if outside is None else outside <= OVERHEAD_TARGET_MS,
                )
            )
    return section


def _run_kind(cfg: Config, client: Client, kind: str, inproc: InProcess) -> dict:
    inputs = GENERATORS[kind](seed=SEEDS[kind])
    samples: dict[str, list[dict]] = {
        "inprocess_api": [],
        "inprocess_htmx": [],
        "api": [],
        "htmx": [],
    }
    log(f"round trip {kind}: {cfg.warmup} warm-up + {cfg.reps} repetitions")
    for index in range(cfg.warmup + cfg.reps):
        a, b = next(inputs), next(inputs)
        rows = {
            "inprocess_api": inproc.run(time_inprocess, kind, a),
            "api": api_roundtrip(client, kind, a),
            "inprocess_htmx": inproc.run(time_inprocess, kind, b),
            "htmx": htmx_roundtrip(client, kind, _form(b)),
        }
        if index >= cfg.warmup:
            for name, row in rows.items():
                samples[name].append(row)

    # The tutorial way: the same call from the main thread (reported, not the baseline).
    main_thread = [
        inproc.run_main(time_inprocess, kind, next(inputs))["total_ms"]
        for _ in range(max(3, cfg.reps // 4))
    ]

    # The same input again: answered from the result cache, no model call.
    repeat = next(inputs)
    api_roundtrip(client, kind, repeat)
    cached = [
        api_roundtrip(client, kind, repeat, expect="cached")["total_ms"]
        for _ in range(max(3, cfg.reps // 4))
    ]

    transports = {}
    for transport in ("api", "htmx"):
        site = [row["total_ms"] for row in samples[transport]]
        local = [row["total_ms"] for row in samples[f"inprocess_{transport}"]]
        paired = [s - loc for s, loc in zip(site, local, strict=True)]
        site_s, local_s = summary(site), summary(local)
        splits = [split(cfg.redis_url, row) for row in samples[transport]]
        outside = [
            row["total_ms"] - parts["model_ms"]
            for row, parts in zip(samples[transport], splits, strict=True)
            if parts
        ]
        local_outside = [
            row["total_ms"] - row["model_ms"] for row in samples[f"inprocess_{transport}"]
        ]
        splits = [row for row in splits if row]
        outside_s, local_outside_s = summary(outside), summary(local_outside)
        transports[transport] = {
            "site_ms": site_s,
            "inprocess_ms": local_s,
            "inprocess_model_ms": summary(
                [row["model_ms"] for row in samples[f"inprocess_{transport}"]]
            ),
            "overhead_ms_p50": round(site_s["median"] - local_s["median"], 3),
            "overhead_ms_p95": round(site_s["p95"] - local_s["p95"], 3),
            "overhead_ms_paired": summary(paired),
            "ratio_p50": round(site_s["median"] / local_s["median"], 3),
            "site_outside_model_ms": outside_s,
            "inprocess_outside_model_ms": local_outside_s,
            "overhead_outside_model_ms_p50": None
            if outside_s["median"] is None
            else round(outside_s["median"] - local_outside_s["median"], 3),
            "http_requests_per_round_trip": summary(
                [row["requests"] for row in samples[transport]]
            ),
            "split_ms": {
                key: summary([row[key] for row in splits])
                for key in ("web_submit_ms", "queue_to_worker_ms", "model_ms", "result_back_ms")
            }
            if splits
            else None,
        }
    return {
        "transports": transports,
        "cached_api_ms": summary(cached),
        "inprocess_main_thread_ms": summary(main_thread),
    }


def _form(params: dict) -> dict:
    return {
        key: ("on" if value is True else value)
        for key, value in params.items()
        if value is not False
    }
