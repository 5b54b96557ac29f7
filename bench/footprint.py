"""Model-worker footprint: memory per worker process against its weights, time to ready.

- weights: the sum of parameter bytes of the models the worker reports in its heartbeat
  (``parameters`` x the dtype's size), i.e. one copy of each model;
- baseline: a process with Django, the Celery app, torch and transformers (and the model
  classes the worker uses) imported but no model loaded (``python -m bench.footprint
  --baseline``), measured the same way;
- the worker: RSS, USS and PSS (psutil) of the worker process and any children, sampled
  when it is ready, after the round trips and streaming, and (for the batching workers,
  ``-c 16``) after their load; the maximum is reported;
- time to ready: from starting the process to its heartbeat saying ``ready: true``.

Target: one copy of each model per worker process (a threads pool: one process, no
children), RSS <= 1.5 x weights + the baseline's RSS.
"""

from __future__ import annotations

import json
import os
import sys

from bench.common import Config, ratio, target
from bench.stack import base_env, memory_of, worker_pids
from tools.harness import CeleryWorker, run_python

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
MEMORY_FACTOR = 1.5


def sample(worker: CeleryWorker, label: str) -> dict:
    pids = worker_pids(worker)
    memory = [memory_of(pid) for pid in pids]
    return {
        "label": label,
        "processes": len(pids),
        "rss": sum(m["rss"] for m in memory),
        "uss": sum(m["uss"] for m in memory),
        "pss": sum(m["pss"] for m in memory),
    }


def weights_bytes(heartbeat: dict) -> tuple[int, dict]:
    per_role = {}
    for role, info in (heartbeat.get("models") or {}).items():
        size = DTYPE_BYTES.get(str(info.get("dtype")), 4)
        per_role[role] = {
            "parameters": int(info.get("parameters") or 0),
            "dtype": info.get("dtype"),
            "bytes": int(info.get("parameters") or 0) * size,
        }
    return sum(item["bytes"] for item in per_role.values()), per_role


def baseline(cfg: Config) -> dict:
    """Memory of a process with the worker's imports and no models (a subprocess)."""
    out = run_python(base_env(cfg), "-m", "bench.footprint", "--baseline", timeout=180)
    return json.loads(out.strip().splitlines()[-1])


def analyse(*, worker: CeleryWorker, samples: list[dict], base: dict) -> dict:
    total, per_role = weights_bytes(worker.ready_info or {})
    peak = max(samples, key=lambda s: s["rss"])
    allowed = MEMORY_FACTOR * total + base["rss"]
    over_baseline = peak["rss"] - base["rss"]
    section = {
        "description": "Resident memory of one model worker (threads pool) against the bytes "
        "of its models' parameters and a no-model baseline process; time from start to ready.",
        "weights_bytes": total,
        "weights_by_role": per_role,
        "baseline": base,
        "samples": samples,
        "peak_rss": peak["rss"],
        "peak_uss": max(s["uss"] for s in samples),
        "peak_pss": max(s.get("pss", 0) for s in samples),
        "processes": max(s["processes"] for s in samples),
        "rss_over_baseline": over_baseline,
        "rss_over_baseline_vs_weights": ratio(over_baseline, total),
        "uss_over_baseline_vs_weights": ratio(max(s["uss"] for s in samples) - base["uss"], total),
        "allowed_rss": int(allowed),
        "rss_vs_allowed": ratio(peak["rss"], allowed),
        "time_to_ready_s": worker.ready_seconds,
        "worker_reported_load_s": (worker.ready_info or {}).get("load_seconds"),
        "worker_concurrency": worker.concurrency,
    }
    section["targets"] = [
        target(
            "worker memory",
            f"RSS <= {MEMORY_FACTOR:g} x weights + baseline RSS",
            section["rss_vs_allowed"],
            peak["rss"] <= allowed,
            unit="fraction of the allowance",
        ),
        target(
            "one copy of each model per worker process",
            "1 process; memory over baseline < 2 x weights",
            section["rss_over_baseline_vs_weights"],
            section["processes"] == 1 and over_baseline < 2 * total,
        ),
    ]
    return section


def _baseline_main() -> None:
    import django

    django.setup()
    from config.celery_app import app  # noqa: F401
    from inference import worker  # noqa: F401
    from inference.worker import loading

    loading.set_offline_env()
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers import (  # noqa: F401
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoTokenizer,
        BertForPreTraining,
        BertModel,
        GPT2LMHeadModel,
    )

    loading.configure_threads()
    import gc

    gc.collect()
    print(json.dumps(memory_of(os.getpid())))


if __name__ == "__main__":
    if sys.argv[1:] == ["--baseline"]:
        _baseline_main()
    else:
        raise SystemExit("usage: python -m bench.footprint --baseline")
