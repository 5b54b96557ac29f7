"""What the build writes for people and for the site: progress.json and training.json.

Both are written atomically (temp file + rename), so a reader never sees half a file.
`progress.json`: {"state": "building"|"done"|"failed", "stage", "percent", "eta_seconds",
"updated_at", "pid", "message"}; the site reads it to say "demo models are being prepared".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

FORMAT_VERSION = 2  # of training.json

# Share of the whole build each stage represents, for the overall percentage.
STAGE_WEIGHTS: dict[str, float] = {
    "corpus": 1.0,
    "tokenizers": 0.5,
    "bert-early": 4.0,
    "gpt-early": 4.0,
    "publish": 1.0,
    "bert": 38.0,
    "gpt": 43.0,
    "eval": 2.0,
    "saving": 6.5,
}
STAGES = tuple(STAGE_WEIGHTS)


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def overall_percent(stage: str, stage_fraction: float) -> float:
    done = 0.0
    for name in STAGES:
        if name == stage:
            done += STAGE_WEIGHTS[name] * min(max(stage_fraction, 0.0), 1.0)
            break
        done += STAGE_WEIGHTS[name]
    return round(100.0 * done / sum(STAGE_WEIGHTS.values()), 1)


class ProgressWriter:
    """Throttled writer of progress.json (at most one write per `interval` seconds)."""

    def __init__(self, path: Path, *, interval: float = 2.0, clock=time.time) -> None:
        self.path = path
        self.interval = interval
        self.clock = clock
        self._last_write = 0.0
        self.stage = STAGES[0]

    def update(
        self,
        stage: str,
        fraction: float,
        *,
        eta_seconds: float | None,
        force: bool = False,
    ) -> None:
        now = self.clock()
        changed = stage != self.stage
        self.stage = stage
        if not (force or changed) and now - self._last_write < self.interval:
            return
        self._last_write = now
        write_json_atomic(
            self.path,
            {
                "state": "building",
                "stage": stage,
                "percent": overall_percent(stage, fraction),
                "eta_seconds": None if eta_seconds is None else round(max(eta_seconds, 0.0)),
                "updated_at": now,
                "pid": os.getpid(),
            },
        )

    def finish(self, *, state: str, message: str = "") -> None:
        data = {
            "state": state,
            "stage": self.stage,
            "percent": 100.0 if state == "done" else overall_percent(self.stage, 0.0),
            "eta_seconds": 0 if state == "done" else None,
            "updated_at": self.clock(),
            "pid": os.getpid(),
        }
        if message:
            data["message"] = message
        write_json_atomic(self.path, data)


def early_record(*, mode: str, minutes: float, release: dict, documents: int, models: dict) -> dict:
    """training.json while the demos serve the early checkpoint (state "early");
    ``models``: name -> (model, its training summary)."""
    return {
        "state": "early",
        "format": FORMAT_VERSION,
        "mode": mode,
        "release": release,
        "built_at": release["published_at"],
        "budget_minutes": minutes,
        "note": (
            "An early checkpoint: each model trained for about half a minute. The demos "
            "serve it while the build goes on; the finished models replace it."
        ),
        "corpus": {"documents": documents},
        "models": {
            name: {
                "class": type(model).__name__,
                "parameters": model.num_parameters(),
                "training": summary,
            }
            for name, (model, summary) in models.items()
        },
    }


def training_record(
    *,
    recipe,
    options,
    plan: dict,
    corpus,
    models: dict,
    evaluation: dict,
    release: dict,
    stage_seconds: dict[str, float],
    cpu_seconds: dict[str, float],
    wall_this_run: float,
    machine: dict,
) -> dict:
    """training.json of a finished build: what was trained, on what, how long, how well."""
    import platform

    import tokenizers
    import torch
    import transformers

    from inference.training import corpus as corpus_mod

    stats = corpus.stats()
    stats.update(
        {
            "holdout_percent": recipe.holdout_percent,
            "why": corpus_mod.__doc__.split("\n\n")[1].replace("\n", " "),
            "sources": corpus.sources,
        }
    )
    return {
        "state": "done",
        "format": FORMAT_VERSION,
        "mode": recipe.mode,
        "release": release,
        "built_at": release["published_at"],
        "seed": options.seed,
        "budget_minutes": options.minutes,
        "early_published_at": plan.get("early_published"),
        "started_at": plan.get("started_at"),
        "wall_seconds": {
            **{k: round(v, 1) for k, v in stage_seconds.items()},
            "total": round(sum(stage_seconds.values()), 1),
            "this_run": round(wall_this_run, 1),
        },
        # Cores this build actually got (CPU seconds / wall seconds, this run): on a shared
        # machine other processes take the rest, and the time budget buys fewer steps.
        "cpu_seconds": {k: round(v, 1) for k, v in cpu_seconds.items()},
        "cores_used": round(sum(cpu_seconds.values()) / max(wall_this_run, 1e-9), 2),
        "load_average_at_start": machine["load_average_at_start"],
        "machine": {
            "threads": machine["threads"],
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "cpu_count": os.cpu_count(),
            "precision": plan["precision"],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "corpus": stats,
        "models": models,
        "evaluation": evaluation,
    }
