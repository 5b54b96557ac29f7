"""GPT's distribution over the next token for a prompt.

Returns the top-k candidates at temperature 1 and, separately, the FULL logits vector
(float32 bytes) plus the strings of the 200 most likely tokens, which the task stores in
Redis under ``logits_key`` so the web can re-shape the distribution for any temperature,
top-k or top-p with numpy, without running the model again.

Three steps, so the worker's batcher (``inference/worker/batching.py``) can run the forward pass
for many requests at once: :func:`prepare` checks one prompt (its errors stay its own),
:func:`forward` runs one right-padded pass for a batch, :func:`finish` builds one result.
:func:`next_token_batch` and :func:`next_token` chain them directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inference.contract.streams import LOGITS_PREFIX
from inference.worker.engine.common import Stopwatch, check_token_count, model_card

if TYPE_CHECKING:
    from inference.worker.loading import Loaded

VOCAB_TOP = 200


@dataclass
class NextTokenOutput:
    result: dict
    logits: bytes  # float32, little-endian, one per vocabulary entry
    vocab: list[list]  # [[token_id, token], ...] for the VOCAB_TOP most likely tokens


def logits_key(model_name: str, prompt: str) -> str:
    digest = hashlib.sha256(f"{model_name}\x00{prompt}".encode()).hexdigest()
    return LOGITS_PREFIX + digest


@dataclass(frozen=True)
class NextTokenItem:
    """One checked request."""

    prompt: str
    top_k: int
    length: int


def prepare(gpt: Loaded, prompt: str, *, top_k: int) -> NextTokenItem:
    """Check one prompt (raises :class:`DemoInputError` for that request only)."""
    length = check_token_count(gpt, prompt, label="The prompt", field="prompt")
    return NextTokenItem(prompt=prompt, top_k=int(top_k), length=length)


def _last_logits(model, encoded: dict, last):
    """Logits at each row's last real token, shape (rows, vocab).

    For GPT-2 the vocabulary projection (``lm_head``, tied to the 50k-entry embedding)
    runs on those rows only, not on every token and padding position: the same numbers
    as the full model for a third less work. Other model classes take the full pass.
    """
    import torch

    rows = torch.arange(last.shape[0], device=last.device)
    if getattr(model.config, "model_type", "") == "gpt2" and hasattr(model, "transformer"):
        hidden = model.transformer(**encoded, use_cache=False).last_hidden_state
        return model.lm_head(hidden[rows, last])
    return model(**encoded, use_cache=False).logits[rows, last]


def forward(gpt: Loaded, items: Sequence[NextTokenItem]) -> tuple[list, float]:
    """One right-padded forward pass; each prompt's logits are read at its last real token.

    Right padding keeps every real token at its own position (0, 1, ...) and the causal
    mask stops real tokens from seeing the padding after them, so each row equals the
    prompt run alone. Returns one float32 CPU logits vector per item and the time (ms).
    """
    import torch

    watch = Stopwatch()
    with watch.running(), torch.inference_mode():
        encoded = gpt.tokenize(
            [item.prompt for item in items],
            padding=True,
            padding_side="right",
            return_tensors="pt",
        )
        encoded = {key: value.to(gpt.device) for key, value in encoded.items()}
        last = encoded["attention_mask"].sum(dim=1) - 1
        rows = _last_logits(gpt.model, encoded, last).float().cpu()
    return list(rows), watch.elapsed_ms


def finish(
    gpt: Loaded, item: NextTokenItem, row, *, elapsed_ms: float, batch_size: int = 1
) -> NextTokenOutput:
    with gpt.tokenizer_lock:
        return _output(
            gpt, item.prompt, row, top_k=item.top_k, elapsed_ms=elapsed_ms, batch_size=batch_size
        )


def next_token_batch(
    gpt: Loaded, prompts: list[str], *, top_k: int | Sequence[int]
) -> list[NextTokenOutput]:
    """One right-padded forward pass for several prompts (``top_k``: one, or one each)."""
    top_ks = [top_k] * len(prompts) if isinstance(top_k, int) else list(top_k)
    items = [prepare(gpt, prompt, top_k=k) for prompt, k in zip(prompts, top_ks, strict=True)]
    rows, elapsed_ms = forward(gpt, items)
    return [
        finish(gpt, item, row, elapsed_ms=elapsed_ms, batch_size=len(items))
        for item, row in zip(items, rows, strict=True)
    ]


def _output(gpt: Loaded, prompt: str, row, *, top_k: int, elapsed_ms: float, batch_size: int):
    import numpy as np

    tokenizer = gpt.tokenizer
    card = model_card(gpt)
    probs = row.softmax(dim=-1)
    k = max(1, min(int(top_k), row.shape[-1]))
    top_probs, top_ids = probs.topk(max(k, min(VOCAB_TOP, row.shape[-1])))
    top_ids_list = top_ids.tolist()
    candidates = [
        {
            "token": tokenizer.decode([token_id]),
            "token_id": int(token_id),
            "logit": round(float(row[token_id]), 6),
            "prob": round(float(prob), 6),
        }
        for prob, token_id in zip(top_probs[:k].tolist(), top_ids_list[:k], strict=True)
    ]
    vocab = [[int(token_id), tokenizer.decode([token_id])] for token_id in top_ids_list]
    return NextTokenOutput(
        result={
            "prompt": prompt,
            "candidates": candidates,
            "logits_key": logits_key(card["name"], prompt),
            "vocab_size": int(row.shape[-1]),
            "model": card,
            "elapsed_ms": round(elapsed_ms, 3),
            "batch_size": batch_size,
        },
        logits=row.numpy().astype(np.dtype("<f4")).tobytes(),
        vocab=vocab,
    )


def next_token(gpt: Loaded, *, prompt: str, top_k: int = 20) -> NextTokenOutput:
    return next_token_batch(gpt, [prompt], top_k=top_k)[0]
