"""Contexts for the result templates (pure functions, no Redis, no ORM).

Templates stay declarative: which result template a kind uses, the model cards, the status
line, and each kind's view of its result (``inference.web.result_shapes``,
``inference.web.attention_maps``). :func:`result_context` shapes a live task's
:class:`Outcome`; :func:`stored_context` shapes a stored example the same way, so one set
of templates draws both.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inference.contract import kinds
from inference.web.attention_maps import (
    attention_layer,  # noqa: F401 - importable from here, as before
    attention_maps,
)
from inference.web.result_shapes import (
    compare_settings,
    embeddings_view,
    fill_mask_view,
    generated_tokens,
    initial_reshaped,
    next_sentence_view,
    token_alignment,
    token_views,
)
from inference.web.selectors import Outcome

STATE_LABELS = {
    "queued": gettext_lazy("Waiting for a model worker…"),
    "running": gettext_lazy("Running"),
    "streaming": gettext_lazy("Generating"),
    "done": gettext_lazy("Done"),
    "error": gettext_lazy("Something went wrong"),
}

ROLE_NAMES = {"bert": "BERT", "gpt": "GPT", "encoder": gettext_lazy("Sentence encoder")}


def demo_catalogue() -> list[dict[str, str]]:
    return [{"kind": k.name, "title": k.title, "intro": k.intro} for k in kinds.all_kinds()]


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
    for card in cards:
        card["role_name"] = ROLE_NAMES.get(str(card.get("role")), card.get("role", ""))
    return cards


# --- Contexts for the result templates ---------------------------------------------------


def retry_url(kind: str, params: dict | None) -> str:
    """The demo's form, filled in with ``params`` (so "Try again" keeps the input)."""
    if kinds.get(kind) is None:
        return reverse("inference:demo-index")
    base = reverse("inference:demo-form", args=[kind])
    query = {
        name: "on" if value is True else value
        for name, value in (params or {}).items()
        if value is not None and value is not False
    }
    return f"{base}?{urlencode(query)}" if query else base


def status_line(outcome: Outcome) -> str:
    """What the learner reads while a demo runs. Never the worker's host name (an internal
    detail, "inference@vm"): "a model worker" says all a learner needs."""
    if outcome.state == "queued":
        return str(STATE_LABELS["queued"])
    count = len(outcome.tokens)
    if outcome.state == "streaming" and outcome.worker:
        return _("Generating on a model worker… %(count)s tokens so far") % {"count": count}
    if outcome.state == "streaming":
        return _("Generating… %(count)s tokens so far") % {"count": count}
    if outcome.state == "running" and outcome.worker:
        return _("Running on a model worker…")
    if outcome.state == "running":
        return _("Running…")
    return str(STATE_LABELS.get(outcome.state, outcome.state))


# Each kind's view of its result, named in its row (``kinds.DemoKind.present``): the extra
# context its result template draws from (result, params).


def present_fill_mask(result: dict, params: dict) -> dict[str, Any]:
    return {"fill_mask": fill_mask_view(result)}


def present_next_token(result: dict, params: dict) -> dict[str, Any]:
    return {"initial_reshaped": initial_reshaped(result)}


def present_attention(result: dict, params: dict) -> dict[str, Any]:
    return {"attention_maps": attention_maps(result)}


def present_tokenize(result: dict, params: dict) -> dict[str, Any]:
    views = token_views(result)
    return {
        "token_views": views,
        "token_sides": {view["role"]: view for view in views},
        "alignment": token_alignment(result),
    }


def present_embeddings(result: dict, params: dict) -> dict[str, Any]:
    return {"embeddings": embeddings_view(result)}


def present_next_sentence(result: dict, params: dict) -> dict[str, Any]:
    return {"nsp": next_sentence_view(result)}


def present_generate(result: dict, params: dict) -> dict[str, Any]:
    return {"compare": compare_settings(result, params)}


def _kind_context(kind: str, result: dict, params: dict) -> dict[str, Any]:
    """The kind's view of a finished (or, for generate, streaming) result."""
    row = kinds.get(kind)
    if not result or row is None:
        return {}
    return row.presenter()(result, params)


def _result_template(kind: str | None) -> str | None:
    row = kinds.get(kind)
    return row.result_template if row else None


def result_dom_id(wid: str, source: str) -> str:
    """The id prefix of one rendered result (unique per widget and result)."""
    return f"{wid}-{source[:12]}"


def result_context(
    outcome: Outcome, *, wid: str = "demo-panel", transport: str | None = None, compact=False
) -> dict[str, Any]:
    """Everything the ``result`` partial needs for a live task.

    ``transport`` says how an unfinished result follows its task: ``"sse"`` (generate:
    tokens arrive one by one over Server-Sent Events) or ``"poll"`` (the long-poll).
    """
    result = outcome.result or {}
    kind = outcome.kind or ""
    params = outcome.params or {}
    if transport is None:
        row = kinds.get(kind)
        transport = row.transport if row else "poll"
    context: dict[str, Any] = {
        "outcome": outcome,
        "state": outcome.state,
        "finished": outcome.finished,
        "kind": kind,
        "result": result,
        "params": params,
        "wid": wid,
        "rid": result_dom_id(wid, outcome.task_id),
        "compact": compact,
        "transport": transport,
        "status_line": status_line(outcome),
        "result_template": _result_template(kind),
        "models": model_cards(result),
        "retry_url": retry_url(kind, params),
        "result_url": reverse("inference:demo-result", args=[outcome.task_id]),
        "stored": None,
    }
    if kind == "next-token" and result:
        context["reshape_url"] = reverse("inference:next-token-reshape", args=[outcome.task_id])
    if kind == "attention" and result:
        context["attention_url"] = reverse("inference:attention-view", args=[outcome.task_id])
    context.update(_kind_context(kind, result, params))
    if kind == "generate":
        context["gen_tokens"] = generated_tokens(result.get("tokens") or outcome.tokens)
        context["prompt"] = result.get("prompt") or params.get("prompt") or ""
    return context


def stored_context(example: Any, *, wid: str = "demo-panel") -> dict[str, Any]:
    """The ``result`` partial's context for a stored example (``inference.contract.examples``)."""
    result = example.result
    context: dict[str, Any] = {
        "outcome": None,
        "state": "done",
        "finished": True,
        "kind": example.kind,
        "result": result,
        "params": example.params,
        "wid": wid,
        "rid": result_dom_id(wid, example.id),
        "compact": False,
        "transport": None,
        "status_line": "",
        "result_template": _result_template(example.kind),
        "models": model_cards(result),
        "retry_url": retry_url(example.kind, example.params),
        "result_url": None,
        "stored": example,
    }
    if example.kind == "next-token" and example.logits:
        context["reshape_url"] = reverse("inference:example-reshape", args=[example.id])
    if example.kind == "attention":
        context["attention_url"] = reverse("inference:example-attention", args=[example.id])
    context.update(_kind_context(example.kind, result, example.params))
    if example.kind == "generate":
        context["gen_tokens"] = generated_tokens(result.get("tokens") or [])
        context["prompt"] = result.get("prompt") or example.params.get("prompt") or ""
    return context
