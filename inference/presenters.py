"""Shape demo outcomes for the templates (pure functions, no Redis, no ORM).

Templates stay declarative: which result template a kind uses, the model cards to show,
the attention matrix of one layer averaged over its heads, the status line of a task.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from .forms import FORMS, ReshapeForm
from .selectors import Outcome
from .validation import KINDS

DEMO_INTROS: dict[str, str] = {
    "fill-mask": "BERT reads the whole sentence at once, left and right of each blank, "
    "and scores every word in its vocabulary for the [MASK].",
    "generate": "GPT only looks left: it predicts one token, appends it, and repeats.",
    "next-token": "Before GPT picks a token it gives every token in its vocabulary a "
    "probability. Here is the top of that list, and how temperature, top-k and top-p "
    "reshape it.",
    "attention": "Attention weights show which tokens each token looks at. BERT's "
    "attention goes both ways; GPT's is causal: no token can look at the ones after it.",
    "tokenize": "BERT uses WordPiece (## marks a piece that continues a word); GPT uses "
    "byte-level BPE (␣ marks a leading space).",
    "embeddings": "BERT gives the same word a different vector in each sentence "
    "(contextual embeddings); a sentence encoder gives whole sentences one vector each.",
    "next-sentence": "BERT's second pre-training task: is sentence B the real next "
    "sentence after A, or a random one?",
}

RESULT_TEMPLATES: dict[str, str] = {
    kind: f"inference/results/{kind.replace('-', '_')}.html" for kind in KINDS
}

STATE_LABELS = {
    "queued": "Waiting for a model worker…",
    "running": "Running",
    "streaming": "Generating",
    "done": "Done",
    "error": "Something went wrong",
}


def demo_catalogue() -> list[dict[str, str]]:
    return [
        {"kind": kind, "title": FORMS[kind].title, "intro": DEMO_INTROS[kind]} for kind in KINDS
    ]


def model_cards(result: dict | None) -> list[dict[str, Any]]:
    """The model(s) a result came from, in a fixed role order."""
    if not result:
        return []
    cards: list[dict[str, Any]] = []
    if isinstance(result.get("model"), dict):
        cards.append(dict(result["model"]))
    models = result.get("models")
    if isinstance(models, dict):
        for role in ("bert", "gpt", "encoder"):
            if isinstance(models.get(role), dict):
                cards.append({"role": role, **models[role]})
    return cards


def attention_layer(view: dict | None, layer: int | None = None) -> dict[str, Any] | None:
    """One layer of a model's attention, averaged over heads, rows rounded for display."""
    if not view or not view.get("attentions"):
        return None
    attentions = view["attentions"]
    index = len(attentions) - 1 if layer is None else max(0, min(layer, len(attentions) - 1))
    heads = attentions[index]
    if not heads:
        return None
    size = len(heads[0])
    rows = [
        [sum(head[i][j] for head in heads) / len(heads) for j in range(size)] for i in range(size)
    ]
    return {
        "tokens": view.get("tokens", []),
        "layer": index + 1,
        "layers": view.get("layers", len(attentions)),
        "heads": view.get("heads", len(heads)),
        "rows": [
            {
                "token": token,
                "cells": [{"value": value, "shade": min(9, int(value * 10))} for value in row],
            }
            for token, row in zip(view.get("tokens", []), rows, strict=False)
        ],
    }


def token_views(result: dict) -> list[dict[str, Any]]:
    """BERT's and GPT's tokens side by side, each with its id."""
    views = []
    for role, label in (("bert", "BERT"), ("gpt", "GPT")):
        view = result.get(role)
        if not isinstance(view, dict):
            continue
        tokens, ids = view.get("tokens") or [], view.get("ids") or []
        views.append(
            {
                "role": role,
                "label": label,
                "name": view.get("name", ""),
                "pieces": [
                    {"token": token, "id": ids[i] if i < len(ids) else None}
                    for i, token in enumerate(tokens)
                ],
            }
        )
    return views


def retry_url(kind: str, params: dict | None) -> str:
    """The demo's form, filled in with ``params`` (so "Try again" keeps the input)."""
    if kind not in FORMS:
        return reverse("inference:demo-index")
    base = reverse("inference:demo-form", args=[kind])
    query = {
        name: "on" if value is True else value
        for name, value in (params or {}).items()
        if value is not None and value is not False
    }
    return f"{base}?{urlencode(query)}" if query else base


def status_line(outcome: Outcome) -> str:
    if outcome.state == "queued":
        return STATE_LABELS["queued"]
    if outcome.state in {"running", "streaming"}:
        where = f" on {outcome.worker}" if outcome.worker else ""
        if outcome.state == "streaming":
            return f"Generating{where}… {len(outcome.tokens)} tokens so far"
        return f"Running{where}…"
    return STATE_LABELS.get(outcome.state, outcome.state)


def result_context(outcome: Outcome) -> dict[str, Any]:
    """Everything the ``result`` partial needs."""
    result = outcome.result or {}
    kind = outcome.kind or ""
    context: dict[str, Any] = {
        "outcome": outcome,
        "kind": kind,
        "result": result,
        "params": outcome.params or {},
        "status_line": status_line(outcome),
        "result_template": RESULT_TEMPLATES.get(kind),
        "models": model_cards(result),
        "retry_url": retry_url(kind, outcome.params),
    }
    if kind == "attention" and result:
        context["attention_views"] = [
            {"role": role, "label": label, "layer": attention_layer(result.get(role))}
            for role, label in (("bert", "BERT"), ("gpt", "GPT"))
        ]
    if kind == "next-token" and result:
        context["reshape_form"] = ReshapeForm()
    if kind == "tokenize" and result:
        context["token_views"] = token_views(result)
    if kind == "generate":
        context["stream_tokens"] = result.get("tokens") or outcome.tokens
    return context
