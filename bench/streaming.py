"""Streaming generation: tokens per second reaching an SSE client against ``model.generate``.

Each repetition, on a fresh prompt (greedy, ``max_new_tokens`` as configured):

- ``site``: ``POST /demos/api/generate/`` then ``GET /demos/results/<id>/events`` (Server-Sent
  Events); the client clock stamps every ``token`` event and the ``done`` event;
- ``generate``: ``model.generate(do_sample=False, max_new_tokens=n)`` in-process on the same
  model files with a streamer that stamps each new token (what a tutorial does);
- ``engine``: the worker's own token loop (``inference.worker.engine.generate.generate``) called
  in-process, to separate the cost of the loop from the cost of the trip.

Rates: end to end = tokens / (last token - submit or call start); steady = (tokens - 1) /
(last token - first token); time to first token. The site's greedy token ids are checked
against ``model.generate``'s.
"""

from __future__ import annotations

import time

from bench.common import Config, log, ratio, summary, target
from bench.inprocess import InProcess
from bench.inputs import generate_inputs
from bench.stack import Client
from tools.harness import Gunicorn

RATE_TARGET = 0.9


def _site_once(client: Client, params: dict) -> dict:
    start = time.perf_counter()
    status, body = client.post_json("/demos/api/generate/", params)
    if status != 202:
        raise RuntimeError(f"generate submit answered {status}: {body}")
    stamps: list[float] = []
    final: dict = {}

    def on_event(name: str, data) -> bool:
        now = time.perf_counter()
        if name == "token":
            stamps.append(now)
        elif name == "done":
            final["result"] = data
            final["at"] = now
            return False
        elif name == "error":
            raise RuntimeError(f"generate failed: {data}")
        return True

    client.sse(body["events_url"], on_event)
    if "result" not in final:
        raise RuntimeError("the event stream ended without a result")
    return {
        "start": start,
        "stamps": stamps,
        "end": final["at"],
        "ids": final["result"].get("token_ids"),
    }


def _generate_once(runtime, prompt: str, max_new_tokens: int) -> dict:
    import torch
    from transformers.generation.streamers import BaseStreamer

    gpt = runtime.gpt

    class Stamps(BaseStreamer):
        def __init__(self) -> None:
            self.calls = 0
            self.stamps: list[float] = []

        def put(self, value) -> None:
            self.calls += 1
            if self.calls > 1:  # the first call carries the prompt
                self.stamps.append(time.perf_counter())

        def end(self) -> None:
            pass

    streamer = Stamps()
    start = time.perf_counter()
    with torch.inference_mode():
        encoded = gpt.tokenize(prompt, return_tensors="pt")
        encoded = {key: value.to(gpt.device) for key, value in encoded.items()}
        output = gpt.model.generate(
            **encoded,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=gpt.tokenizer.eos_token_id,
            streamer=streamer,
        )
    end = time.perf_counter()
    ids = output[0, encoded["input_ids"].shape[1] :].tolist()
    return {"start": start, "stamps": streamer.stamps, "end": end, "ids": ids}


def _engine_once(runtime, prompt: str, max_new_tokens: int) -> dict:
    from inference.worker.engine.generate import generate

    stamps: list[float] = []
    start = time.perf_counter()
    result = generate(
        runtime.gpt,
        prompt=prompt,
        max_new_tokens=max_new_tokens,
        on_token=lambda _event: stamps.append(time.perf_counter()),
    )
    end = time.perf_counter()
    return {"start": start, "stamps": stamps, "end": end, "ids": result["token_ids"]}


def _rates(sample: dict) -> dict:
    stamps = sample["stamps"]
    n = len(stamps)
    if not n:
        return {"tokens": 0}
    end_to_end = n / (stamps[-1] - sample["start"])
    steady = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else None
    return {
        "tokens": n,
        "end_to_end_tps": end_to_end,
        "steady_tps": steady,
        "first_token_ms": (stamps[0] - sample["start"]) * 1000,
        "total_ms": (sample["end"] - sample["start"]) * 1000,
    }


def run(cfg: Config, *, web: Gunicorn, inproc: InProcess) -> dict:
    client = Client(web.port, timeout=120)
    prompts = generate_inputs(cfg.stream_tokens, seed=33)
    rows: dict[str, list[dict]] = {"site": [], "generate": [], "engine": []}
    same_ids = []
    log(f"streaming: 1 warm-up + {cfg.stream_reps} repetitions of {cfg.stream_tokens} tokens")
    try:
        for index in range(1 + cfg.stream_reps):
            params = next(prompts)
            site = _site_once(client, params)
            local = inproc.run(_generate_once, params["prompt"], cfg.stream_tokens)
            engine = inproc.run(_engine_once, params["prompt"], cfg.stream_tokens)
            if index == 0:
                continue
            same_ids.append(site["ids"] == local["ids"][: len(site["ids"])] and bool(site["ids"]))
            rows["site"].append(_rates(site))
            rows["generate"].append(_rates(local))
            rows["engine"].append(_rates(engine))
    finally:
        client.close()

    def stat(name: str, key: str) -> dict:
        return summary([row[key] for row in rows[name] if row.get(key) is not None])

    data = {
        name: {
            key: stat(name, key)
            for key in ("tokens", "end_to_end_tps", "steady_tps", "first_token_ms", "total_ms")
        }
        for name in rows
    }
    e2e = ratio(
        data["site"]["end_to_end_tps"]["median"], data["generate"]["end_to_end_tps"]["median"]
    )
    steady = ratio(data["site"]["steady_tps"]["median"], data["generate"]["steady_tps"]["median"])
    section = {
        "description": "Greedy generation streamed over Server-Sent Events from the real site "
        "against model.generate in-process (same model files, prompt and settings).",
        "max_new_tokens": cfg.stream_tokens,
        "rates": data,
        "site_vs_generate_end_to_end": e2e,
        "site_vs_generate_steady": steady,
        "engine_vs_generate_end_to_end": ratio(
            data["engine"]["end_to_end_tps"]["median"], data["generate"]["end_to_end_tps"]["median"]
        ),
        "first_token_extra_ms": round(
            data["site"]["first_token_ms"]["median"] - data["generate"]["first_token_ms"]["median"],
            3,
        ),
        "greedy_ids_match_generate": all(same_ids) if same_ids else None,
    }
    section["targets"] = [
        target(
            "streaming tokens/s reaching the SSE client vs model.generate (end to end)",
            f">= {RATE_TARGET:g}x",
            e2e,
            None if e2e is None else e2e >= RATE_TARGET,
        )
    ]
    return section
