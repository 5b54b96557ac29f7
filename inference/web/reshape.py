"""Re-shape a next-token distribution with numpy: temperature, then top-k, then top-p.

The worker stores GPT's full next-token logits once (float32 bytes in Redis); the web
recomputes the bars for any temperature / top-k / top-p here, in well under a
millisecond per setting, without queueing another task. The order of the steps is the
one Hugging Face's sampling uses (temperature, top-k, top-p), so what the learner sees
is what ``generate(do_sample=True, ...)`` samples from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Row:
    rank: int  # 1-based rank by logit (the same at every temperature)
    token_id: int
    token: str | None
    prob: float  # after temperature, top-k, top-p and renormalisation (0 when filtered out)
    base_prob: float  # plain softmax at temperature 1
    kept: bool


@dataclass(frozen=True)
class Reshaped:
    rows: list[Row]
    kept: int  # how many tokens of the vocabulary can still be sampled
    vocab_size: int
    temperature: float
    top_k: int
    top_p: float
    entropy_bits: float  # of the final distribution


def logits_from_bytes(raw: bytes) -> np.ndarray:
    """The float32 vector the worker stored (``tobytes()`` of a float32 array)."""
    if not raw or len(raw) % 4:
        raise ValueError("Stored logits are not a float32 vector.")
    return np.frombuffer(raw, dtype=np.float32)


def softmax(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` in float64, stable for tiny temperatures."""
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max()
    exp = np.exp(scaled)
    return exp / exp.sum()


def top_k_mask(probs: np.ndarray, k: int) -> np.ndarray:
    """True for the ``k`` most likely tokens (ties broken by token id); all when k == 0."""
    if k <= 0 or k >= probs.size:
        return np.ones(probs.size, dtype=bool)
    order = np.argsort(-probs, kind="stable")
    mask = np.zeros(probs.size, dtype=bool)
    mask[order[:k]] = True
    return mask


def top_p_mask(probs: np.ndarray, p: float) -> np.ndarray:
    """True for the smallest set of most likely tokens whose probabilities reach ``p``."""
    if p >= 1.0:
        return probs > 0
    order = np.argsort(-probs, kind="stable")
    sorted_probs = probs[order]
    before = np.cumsum(sorted_probs) - sorted_probs  # mass of the more likely tokens
    keep_sorted = before < p
    keep_sorted[0] = True  # never empty
    mask = np.zeros(probs.size, dtype=bool)
    mask[order[keep_sorted]] = True
    return mask & (probs > 0)


def reshape(
    logits: np.ndarray, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> np.ndarray:
    """The distribution a sampler would draw from (float64, sums to 1)."""
    probs = softmax(logits, temperature=temperature)
    probs = np.where(top_k_mask(probs, top_k), probs, 0.0)
    probs /= probs.sum()
    probs = np.where(top_p_mask(probs, top_p), probs, 0.0)
    return probs / probs.sum()


def top_rows(
    logits: np.ndarray,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    vocab: Mapping[int, str] | None = None,
    rows: int = 20,
) -> Reshaped:
    """The ``rows`` most likely tokens (by logit) with their re-shaped probabilities.

    Temperature never changes the order of tokens and top-k / top-p only cut the tail,
    so the top rows are the same tokens at every setting; only their bars move.
    """
    logits = np.asarray(logits)
    base = softmax(logits, temperature=1.0)
    final = reshape(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    order = np.argsort(-logits.astype(np.float64), kind="stable")[:rows]
    vocab = vocab or {}
    nonzero = final[final > 0]
    entropy = float(-(nonzero * np.log2(nonzero)).sum())
    return Reshaped(
        rows=[
            Row(
                rank=rank,
                token_id=int(token_id),
                token=vocab.get(int(token_id)),
                prob=float(final[token_id]),
                base_prob=float(base[token_id]),
                kept=bool(final[token_id] > 0),
            )
            for rank, token_id in enumerate(order, start=1)
        ],
        kept=int((final > 0).sum()),
        vocab_size=int(logits.size),
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        entropy_bits=max(entropy, 0.0),
    )
