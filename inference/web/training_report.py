"""What the training page shows: ``MODELS_DIR/demo/training.json`` shaped for templates.

``manage.py build_demo_models`` (``inference/training/``) writes the record: corpus
statistics, each model's size, hyperparameters, loss curve, held-out metrics and samples.
This module reads it (never failing a page: a missing or broken file means "not built")
and turns the loss curves into one server-rendered SVG chart.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inference.contract.registry import models_dir
from inference.web.charts import LineChart, Series, downsample, line_chart

SOURCE_LABELS = {
    "wordnet": gettext_lazy("WordNet: definitions and example sentences"),
    "lessons": gettext_lazy("This course's lessons"),
    "gcide": gettext_lazy("GCIDE dictionary: quotations (GPT only)"),
}
TARGET_LABELS = {
    "fill_mask_pass_rate": gettext_lazy("Fill-mask probes with an accepted answer in the top 5"),
    "mlm_top1_accuracy": gettext_lazy("Masked words right first time (held-out everyday English)"),
    "nsp_accuracy": gettext_lazy("Next-sentence accuracy (held-out pairs)"),
    "generate_pass_rate": gettext_lazy("GPT probes: 10+ real words, no repeated phrase"),
    "france_paris_in_top5": gettext_lazy(
        "“The capital of France is [MASK].” has paris in the top 5"
    ),
    "lesson_pairs_right": gettext_lazy("The lessons' next-sentence pairs on the right side"),
    "lesson_defaults_pass": gettext_lazy("The lessons' demo inputs that pass their probe"),
}


def _source_label(name: str) -> str:
    if name in SOURCE_LABELS:
        return str(SOURCE_LABELS[name])
    if name.startswith("docstrings:"):
        return _("docstrings of %(module)s") % {"module": name.removeprefix("docstrings:")}
    return name


def training_path() -> Path:
    return models_dir() / "demo" / "training.json"


def training_record() -> dict[str, Any] | None:
    """The finished build's record, or None when there is none (or it can't be read)."""
    try:
        data = json.loads(training_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return None
    return data


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _curve(points: list[dict], key: str) -> list[tuple[float, float]]:
    out = []
    for point in points or []:
        x, y = _number(point.get("elapsed_s")), _number(point.get(key))
        if x is not None and y is not None:
            out.append((x / 60.0, y))
    return downsample(out)


def loss_chart(record: dict, *, phone: bool = False) -> LineChart:
    """BERT's masked-LM and next-sentence losses and GPT's causal-LM loss over time.

    ``phone``: the same curves in a narrow viewBox that keeps its text readable at 390 px,
    with no room on the right for the line-end labels (the page names the lines in a legend
    under it instead)."""
    bert = (record.get("models") or {}).get("bert") or {}
    gpt = (record.get("models") or {}).get("gpt") or {}
    series = [
        Series("bert", _("BERT masked LM"), _curve(bert.get("loss_curve"), "mlm_loss")),
        Series("nsp", _("BERT next sentence"), _curve(bert.get("loss_curve"), "nsp_loss"), True),
        Series("gpt", _("GPT causal LM"), _curve(gpt.get("loss_curve"), "loss")),
    ]
    if phone:
        return line_chart(
            [s for s in series if s.points],
            width=360,
            height=300,
            x_label=_("minutes of training"),
            y_label=_("loss (nats)"),
            margin=(14, 14, 44, 44),
        )
    return line_chart(
        [s for s in series if s.points],
        width=640,
        height=320,
        x_label=_("minutes of training"),
        y_label=_("loss (cross-entropy, nats)"),
        margin=(16, 190, 44, 56),
    )


def curve_table(model: dict, keys: tuple[str, ...], rows: int = 12) -> list[dict[str, Any]]:
    """A few evenly spaced points of a loss curve, for the table under the chart."""
    points = [p for p in model.get("loss_curve") or [] if isinstance(p, dict)]
    if not points:
        return []
    step = max(1, math.ceil(len(points) / rows))
    chosen = points[::step]
    if chosen[-1] is not points[-1]:
        chosen.append(points[-1])
    return [
        {
            "step": p.get("step"),
            "minutes": (_number(p.get("elapsed_s")) or 0.0) / 60.0,
            "values": [_number(p.get(key)) for key in keys],
        }
        for p in chosen
    ]


def _config_value(config: dict, *names: str) -> Any:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return None


def model_summary(model: dict, role: str) -> dict[str, Any]:
    config = model.get("config") or {}
    training = model.get("training") or {}
    return {
        "role": role,
        "class": model.get("class", ""),
        "parameters": model.get("parameters"),
        "layers": _config_value(config, "num_hidden_layers", "n_layer"),
        "hidden": _config_value(config, "hidden_size", "n_embd"),
        "heads": _config_value(config, "num_attention_heads", "n_head"),
        "context": _config_value(config, "max_position_embeddings", "n_positions"),
        "tokenizer": (model.get("tokenizer") or {}).get("kind", ""),
        "vocab_size": (model.get("tokenizer") or {}).get("vocab_size"),
        "steps": training.get("steps"),
        "minutes": (_number(training.get("elapsed_seconds")) or 0.0) / 60.0,
        "examples_seen": training.get("examples_seen"),
        "tokens_seen": training.get("tokens_seen"),
        "epochs": training.get("epochs"),
        "starts_from": model.get("starts_from", ""),
        "trainable": model.get("trainable_parameters"),
        "frozen_layers": model.get("frozen_layers"),
        "batch_size": (model.get("hyperparameters") or {}).get("batch_size"),
        "learning_rate": (model.get("hyperparameters") or {}).get("peak_lr"),
        "final_loss": model.get("final_loss") or {},
        "heldout": model.get("heldout") or {},
        "samples": model.get("samples") or [],
    }


def evaluation_summary(evaluation: Any) -> dict[str, Any] | None:
    """The probe results and targets of the build's evaluation, shaped for the page."""
    if not isinstance(evaluation, dict) or not isinstance(evaluation.get("probes"), dict):
        return None
    probes = evaluation["probes"]
    targets = [
        {"name": name, "label": TARGET_LABELS.get(name, name), **target}
        for name, target in (evaluation.get("targets") or {}).items()
        if isinstance(target, dict)
    ]
    sections = {}
    for key in ("fill_mask", "next_sentence", "generate"):
        items = [p for p in (probes.get(key) or {}).get("probes") or [] if isinstance(p, dict)]
        sections[key] = {
            "pass_rate": (probes.get(key) or {}).get("pass_rate"),
            "passed": sum(bool(p.get("passes")) for p in items),
            "count": len(items),
            "lesson": [
                p
                for p in items
                if any(str(s).startswith("lesson:") for s in p.get("sources") or [])
            ],
            "failed": [p for p in items if not p.get("passes")],
        }
    failed = sum(len(section["failed"]) for section in sections.values())
    return {
        "targets": targets,
        "all_met": all(t.get("met") for t in targets),
        "failed_count": failed,
        **sections,
    }


def training_report() -> dict[str, Any] | None:
    """Everything ``inference/training.html`` shows, or None before a finished build."""
    record = training_record()
    if record is None:
        return None
    if record.get("state") == "early":
        published = _number((record.get("release") or {}).get("published_at"))
        return {
            "early": True,
            "note": record.get("note", ""),
            "published_at": datetime.fromtimestamp(published, tz=UTC) if published else None,
            "steps": {
                role: ((info or {}).get("training") or {}).get("steps")
                for role, info in (record.get("models") or {}).items()
            },
        }
    models = record.get("models") or {}
    corpus = record.get("corpus") or {}
    sources = [
        {"name": _source_label(name), **info}
        for name, info in sorted(
            (corpus.get("sources") or {}).items(), key=lambda item: -(item[1] or {}).get("chars", 0)
        )
        if isinstance(info, dict)
    ]
    built = _number(record.get("built_at"))
    bert = models.get("bert") or {}
    gpt = models.get("gpt") or {}
    why = str(corpus.get("why") or "").strip().rstrip(":")
    return {
        "why": f"{why}." if why and not why.endswith(".") else why,
        "mode": record.get("mode"),
        "built_at": datetime.fromtimestamp(built, tz=UTC) if built else None,
        "budget_minutes": record.get("budget_minutes"),
        "wall_minutes": (_number((record.get("wall_seconds") or {}).get("total")) or 0.0) / 60,
        "machine": record.get("machine") or {},
        "corpus": corpus,
        "sources": sources,
        "bert": model_summary(bert, "bert"),
        "gpt": model_summary(gpt, "gpt"),
        "chart": loss_chart(record),
        "chart_phone": loss_chart(record, phone=True),
        "evaluation": evaluation_summary(record.get("evaluation")),
        "bert_table": curve_table(bert, ("mlm_loss", "nsp_loss")),
        "gpt_table": curve_table(gpt, ("loss",)),
    }
