"""Attention maps for the templates: one layer and head of a model, and what a position
can see (pure functions on the result's ``L × H × n × n`` weights; no new task needed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from inference.web.charts import bar_width
from inference.web.result_shapes import printable

LABELS = {"bert": "BERT", "gpt": "GPT"}


# --- Attention ---------------------------------------------------------------------------------


def _clamped_int(value: object, *, lo: int, hi: int, default: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return max(lo, min(hi, number))


def attention_shape(view: dict | None) -> tuple[int, int, int]:
    """``(layers, heads, tokens)`` of one model's attention result."""
    attentions = (view or {}).get("attentions") or []
    layers = len(attentions)
    heads = len(attentions[0]) if layers else 0
    return layers, heads, len((view or {}).get("tokens") or [])


def attention_selection(query: Mapping[str, Any], result: dict) -> dict[str, dict[str, int]]:
    """Layer (1-based), head (0 = average of all heads) and focus token for each model.

    Out-of-range or unreadable values fall back to the defaults (the last layer, all
    heads, the middle token): they come from selectors, not from typed input.
    """
    selection = {}
    for role in ("bert", "gpt"):
        layers, heads, tokens = attention_shape(result.get(role))
        focus = query.get(f"{role}_pick") or query.get(f"{role}_focus")
        selection[role] = {
            "layer": _clamped_int(
                query.get(f"{role}_layer"), lo=1, hi=max(1, layers), default=max(1, layers)
            ),
            "head": _clamped_int(query.get(f"{role}_head"), lo=0, hi=heads, default=0),
            "focus": _clamped_int(focus, lo=0, hi=max(0, tokens - 1), default=tokens // 2),
        }
    return selection


def attention_shade(value: float) -> int:
    """0–9 colour step; square-root scale so small weights still show."""
    return max(0, min(9, int(math.sqrt(max(0.0, value)) * 10)))


def attention_map(
    view: dict | None, *, role: str, layer: int, head: int, focus: int
) -> dict[str, Any] | None:
    """One model's attention matrix for a layer and head (0 = mean over heads)."""
    layers, heads, size = attention_shape(view)
    if not view or not layers or not heads or not size:
        return None
    layer = max(1, min(layer, layers))
    chosen = view["attentions"][layer - 1]
    if head:
        matrix = chosen[min(head, heads) - 1]
    else:
        matrix = [
            [sum(h[i][j] for h in chosen) / len(chosen) for j in range(size)] for i in range(size)
        ]
    causal = role == "gpt"
    tokens = [printable(t) for t in view.get("tokens") or []]
    rows = []
    for i, token in enumerate(tokens):
        cells = []
        for j in range(size):
            value = float(matrix[i][j])
            masked = causal and j > i
            cells.append(
                {
                    "value": value,
                    "percent": round(value * 100),
                    "shade": attention_shade(value),
                    "masked": masked,
                    "column": tokens[j],
                }
            )
        rows.append({"index": i, "token": token, "focus": i == focus, "cells": cells})
    focus = max(0, min(focus, size - 1))
    sees = [
        {
            "index": j,
            "token": tokens[j],
            "visible": not (causal and j > focus),
            "value": float(matrix[focus][j]),
            "percent": round(float(matrix[focus][j]) * 100),
            "width": bar_width(matrix[focus][j]),
            "self": j == focus,
        }
        for j in range(size)
    ]
    return {
        "role": role,
        "label": LABELS[role],
        "causal": causal,
        "tokens": tokens,
        "size": size,
        "layer": layer,
        "layers": layers,
        "head": head,
        "heads": heads,
        "layer_options": list(range(1, layers + 1)),
        "head_options": list(range(1, heads + 1)),
        "focus": focus,
        "focus_token": tokens[focus],
        "rows": rows,
        "sees": sees,
        "visible_count": sum(1 for s in sees if s["visible"]),
        "hidden_count": sum(1 for s in sees if not s["visible"]),
    }


def attention_maps(result: dict, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    selection = attention_selection(query or {}, result)
    maps = []
    for role in ("bert", "gpt"):
        shaped = attention_map(result.get(role), role=role, **selection[role])
        if shaped:
            maps.append(shaped)
    return maps


def attention_layer(view: dict | None, layer: int | None = None) -> dict[str, Any] | None:
    """One layer of a model's attention, averaged over heads (last layer by default)."""
    layers, _heads, _size = attention_shape(view)
    if not layers:
        return None
    index = layers - 1 if layer is None else max(0, min(layer, layers - 1))
    shaped = attention_map(view, role="bert", layer=index + 1, head=0, focus=0)
    if shaped is None:
        return None
    return {
        "tokens": shaped["tokens"],
        "layer": shaped["layer"],
        "layers": shaped["layers"],
        "heads": shaped["heads"],
        "rows": shaped["rows"],
    }
