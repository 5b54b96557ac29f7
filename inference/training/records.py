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
