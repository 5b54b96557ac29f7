"""Dynamic batching in the model worker: throughput at concurrency 1, 4, 16, on and off.

``C`` client threads each run closed-loop round trips through the real site (``POST
/demos/api/<kind>/`` + the ``?wait=`` long-poll, fresh inputs so nothing comes from the
result cache) for a fixed time; throughput = finished round trips / wall time, with the
median and p95 latency beside it. Two stacks run side by side: a web and a model worker
with ``INFERENCE_BATCHING=0``, and the same with ``=1`` (same pool size, each pair on a
queue of its own), and every point is measured for both back to back, in alternating
order, so a change in the machine's background load hits both alike. The batcher itself
belongs to the worker (``inference/worker/batching.py``); while that module doesn't exist, only
"off" is measured and the section says "not implemented".

For scale, ``engine_batch_potential`` times the engines' own padded batch functions
in-process (``fill_mask_batch``/``next_token_batch`` on 16 inputs at once vs one at a
time): the most a batcher could gain on this machine, before any queueing.
"""

from __future__ import annotations

import importlib.util
import threading
import time

from bench.common import Config, log, ratio, summary, target
from bench.inputs import SharedInputs
from bench.roundtrip import RoundTripError, api_roundtrip
from bench.stack import Client

KINDS = ("fill-mask", "next-token", "embeddings")
SPEEDUP_TARGET = 2.5
LATENCY_SLACK_MS = 5.0


def batcher_implemented() -> bool:
    return importlib.util.find_spec("inference.worker.batching") is not None


def throughput(port: int, kind: str, concurrency: int, seconds: float, seed: int) -> dict:
    inputs = SharedInputs(kind, seed)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_line = threading.Barrier(concurrency + 1)
    stop_at: list[float] = []

    def client_loop() -> None:
        client = Client(port, timeout=120)
        try:
            start_line.wait()
            while time.perf_counter() < stop_at[0]:
                try:
                    row = api_roundtrip(client, kind, inputs.next())
                except (RoundTripError, OSError) as exc:
                    with lock:
                        errors.append(str(exc)[:200])
                    continue
                with lock:
                    latencies.append(row["total_ms"])
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at.append(began + seconds)
    start_line.wait()
    for thread in threads:
        thread.join(seconds + 120)
    wall = time.perf_counter() - began
    return {
        "concurrency": concurrency,
        "completed": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(wall, 3),
        "per_second": round(len(latencies) / wall, 3),
        "latency_ms": summary(latencies),
    }


def run(cfg: Config, *, inproc, samples: list[dict]) -> dict:
    """Two stacks side by side (web + worker, batching off / on, each on its own queue), so
    each point is measured for both modes back to back, in alternating order."""
    from bench import footprint
    from bench.stack import start_web, start_worker, wait_ready

    implemented = batcher_implemented()
    modes = ("off", "on") if implemented else ("off",)
    stacks: dict[str, tuple] = {}
    settings_seen: dict = {}
    results: dict = {mode: {kind: [] for kind in KINDS} for mode in modes}
    try:
        for mode in modes:
            queue = f"bench-batching-{mode}"
            log(f"batching {mode}: web + worker (-c {cfg.batch_worker_threads}) on {queue}")
            worker = start_worker(
                cfg,
                concurrency=cfg.batch_worker_threads,
                batching="1" if mode == "on" else "0",
                name=f"worker-batching-{mode}",
                queue=queue,
                wait=False,
            )
            stacks[mode] = (start_web(cfg, name=f"web-batching-{mode}", queue=queue), worker)
        for mode, (_, worker) in stacks.items():
            wait_ready(worker)
            settings_seen[mode] = (worker.ready_info or {}).get("batching")
        for kind_index, kind in enumerate(KINDS):
            for mode_index, mode in enumerate(modes):
                # Warm-up: the web processes' tokenizers, the worker's first batches.
                throughput(
                    stacks[mode][0].port,
                    kind,
                    max(cfg.batch_concurrency),
                    min(1.5, cfg.batch_seconds),
                    seed=9000 + 10 * kind_index + mode_index,
                )
            for point, concurrency in enumerate(cfg.batch_concurrency):
                for mode in modes if point % 2 == 0 else modes[::-1]:
                    # Different inputs per mode (same distribution): both stacks share the
                    # site's result cache, which would answer a repeated input.
                    seed = 1000 * concurrency + 10 * kind_index + modes.index(mode)
                    row = throughput(
                        stacks[mode][0].port, kind, concurrency, cfg.batch_seconds, seed=seed
                    )
                    log(
                        f"batching {mode} {kind} c={concurrency}: {row['per_second']}/s, "
                        f"p50 {row['latency_ms']['median']} ms, errors {row['errors']}"
                    )
                    results[mode][kind].append(row)
        for mode, (_, worker) in stacks.items():
            samples.append(
                footprint.sample(
                    worker, f"after batching {mode} (-c {cfg.batch_worker_threads}, loaded)"
                )
            )
    finally:
        for web, worker in stacks.values():
            worker.stop()
            web.stop()
    comparison, targets = analyse(results, cfg, implemented)
    return {
        "description": "Closed-loop clients through the real site (submit + long-poll, fresh "
        "inputs), each point for a fixed time. Two stacks run side by side, a web and a model "
        "worker with INFERENCE_BATCHING=0 and the same with =1 (same pool size, queues of "
        "their own), so every point is measured for both modes back to back, in alternating "
        "order.",
        "implemented": implemented,
        "worker_threads": cfg.batch_worker_threads,
        "worker_batching_settings": settings_seen,
        "concurrency": list(cfg.batch_concurrency),
        "seconds_per_point": cfg.batch_seconds,
        "modes": results,
        "comparison": comparison,
        "engine_batch_potential": inproc.run(engine_potential, batch=max(cfg.batch_concurrency)),
        "targets": targets,
    }


def engine_potential(runtime, *, batch: int = 16, reps: int = 2) -> dict:
    """In-process: one padded batch of ``batch`` inputs vs the same inputs one at a time."""
    from bench.inputs import fill_mask_inputs, next_token_inputs
    from inference.worker.engine.fill_mask import fill_mask, fill_mask_batch
    from inference.worker.engine.next_token import next_token, next_token_batch

    cases = {
        "fill-mask": (
            fill_mask_inputs(seed=77),
            lambda items: fill_mask_batch(runtime.bert, [i["text"] for i in items], top_k=5),
            lambda item: fill_mask(runtime.bert, **item),
        ),
        "next-token": (
            next_token_inputs(seed=88),
            lambda items: next_token_batch(runtime.gpt, [i["prompt"] for i in items], top_k=20),
            lambda item: next_token(runtime.gpt, **item),
        ),
    }
    out = {}
    for kind, (source, batched, single) in cases.items():
        items = [next(source) for _ in range(batch)]
        batched(items[:2])  # warm-up
        one_by_one, together = [], []
        for _ in range(reps):
            start = time.perf_counter()
            for item in items:
                single(item)
            one_by_one.append(time.perf_counter() - start)
            start = time.perf_counter()
            batched(items)
            together.append(time.perf_counter() - start)
        seq = batch / summary(one_by_one)["median"]
        bat = batch / summary(together)["median"]
        out[kind] = {
            "batch": batch,
            "sequential_per_s": round(seq, 3),
            "batched_per_s": round(bat, 3),
            "speedup": round(bat / seq, 3),
        }
    return out


def analyse(modes: dict, cfg: Config, implemented: bool) -> tuple[dict, list[dict]]:
    comparison: dict = {}
    targets = []
    low, high = min(cfg.batch_concurrency), max(cfg.batch_concurrency)
    for kind in KINDS:
        off = {row["concurrency"]: row for row in modes["off"][kind]}
        entry = {
            "off_per_second": {str(c): off[c]["per_second"] for c in off},
            "scaling_off_vs_c1": {
                str(c): ratio(off[c]["per_second"], off[low]["per_second"]) for c in off
            },
        }
        if "on" in modes:
            on = {row["concurrency"]: row for row in modes["on"][kind]}
            entry["on_per_second"] = {str(c): on[c]["per_second"] for c in on}
            entry["speedup_on_vs_off"] = {
                str(c): ratio(on[c]["per_second"], off[c]["per_second"]) for c in on
            }
            entry["p50_latency_c1_on_minus_off_ms"] = round(
                on[low]["latency_ms"]["median"] - off[low]["latency_ms"]["median"], 3
            )
            speed = entry["speedup_on_vs_off"][str(high)]
            targets.append(
                target(
                    f"batching speedup at concurrency {high}, {kind}",
                    f">= {SPEEDUP_TARGET:g}x unbatched",
                    speed,
                    None if speed is None else speed >= SPEEDUP_TARGET,
                )
            )
            extra = entry["p50_latency_c1_on_minus_off_ms"]
            targets.append(
                target(
                    f"batching p50 latency at concurrency {low}, {kind}",
                    f"<= unbatched + {LATENCY_SLACK_MS:g} ms",
                    extra,
                    extra <= LATENCY_SLACK_MS,
                )
            )
        comparison[kind] = entry
    if not implemented:
        targets.append(
            target(
                f"batching speedup at concurrency {high}",
                f">= {SPEEDUP_TARGET:g}x unbatched",
                None,
                None,
                note="not implemented: inference/worker/batching.py does not exist yet",
            )
        )
    return comparison, targets
