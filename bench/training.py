"""``build_demo_models``: wall time and final losses, from the command's own records.

Reads ``MODELS_DIR/demo/training.json`` (written by ``manage.py build_demo_models``) of the
site's models folder; the benchmark never trains anything itself. When the file is absent
the section says so.
"""

from __future__ import annotations

import json
from pathlib import Path


def read(models_dir: Path) -> dict:
    path = Path(models_dir) / "demo" / "training.json"
    section: dict = {"source": str(path)}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        section["available"] = False
        section["note"] = (
            f"{path} does not exist: build_demo_models has not finished a build on this "
            "machine, so there is no wall time or loss to report."
        )
        return section
    except (OSError, ValueError) as exc:
        section["available"] = False
        section["note"] = f"{path} is unreadable: {exc}"
        return section

    wall = record.get("wall_seconds") or {}
    models = {}
    for role in ("bert", "gpt"):
        info = (record.get("models") or {}).get(role) or {}
        training = info.get("training") or {}
        models[role] = {
            "parameters": info.get("parameters"),
            "steps": training.get("steps"),
            "training_seconds": training.get("elapsed_seconds"),
            "final_loss": info.get("final_loss"),
            "heldout": info.get("heldout"),
        }
    section.update(
        {
            "available": True,
            "mode": record.get("mode"),
            "built_at": record.get("built_at"),
            "budget_minutes": record.get("budget_minutes"),
            "wall_seconds_total": wall.get("total"),
            "wall_seconds_by_stage": {
                k: v for k, v in wall.items() if k not in ("total", "this_run")
            },
            "machine": record.get("machine"),
            "models": models,
        }
    )
    if isinstance(wall.get("total"), int | float) and record.get("budget_minutes"):
        section["wall_vs_budget"] = round(wall["total"] / (60 * float(record["budget_minutes"])), 3)
    return section
