from __future__ import annotations

import math

import numpy as np
import pytest

from inference.web import reshape

PROBS = np.array([0.5, 0.3, 0.15, 0.05])
LOGITS = np.log(PROBS).astype(np.float32)


def random_logits(seed: int = 0, size: int = 5000) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(size) * 3).astype(np.float32)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, 0, 1.0), (0.3, 0, 1.0), (2.5, 50, 1.0), (1.0, 0, 0.9), (0.7, 10, 0.5), (5.0, 100, 0.99)],
)
def test_probabilities_sum_to_one(temperature, top_k, top_p):
    probs = reshape.reshape(random_logits(), temperature=temperature, top_k=top_k, top_p=top_p)
    assert math.isclose(probs.sum(), 1.0, rel_tol=1e-9)
    assert (probs >= 0).all()


def test_temperature_one_is_plain_softmax():
    assert np.allclose(reshape.reshape(LOGITS), PROBS, atol=1e-6)


def test_temperature_towards_zero_concentrates_on_the_top_token():
    probs = reshape.reshape(LOGITS, temperature=0.01)
    assert probs[0] > 0.999999
    assert np.isfinite(probs).all()


def test_higher_temperature_flattens_the_distribution():
    entropies = [
        reshape.top_rows(random_logits(), temperature=t).entropy_bits for t in (0.2, 1.0, 3.0)
    ]
    assert entropies[0] < entropies[1] < entropies[2]


def test_top_k_keeps_exactly_k_tokens():
    probs = reshape.reshape(random_logits(), top_k=7)
    assert (probs > 0).sum() == 7
    assert set(np.flatnonzero(probs)) == set(np.argsort(-random_logits())[:7])


@pytest.mark.parametrize(("top_p", "kept"), [(0.5, 1), (0.7, 2), (0.8, 2), (0.81, 3), (0.96, 4)])
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept):
    probs = reshape.reshape(LOGITS, top_p=top_p)
    assert (probs > 0).sum() == kept
    assert np.allclose(probs[:kept], PROBS[:kept] / PROBS[:kept].sum(), atol=1e-6)


def test_top_p_never_empties_the_distribution():
    probs = reshape.reshape(LOGITS, top_p=1e-9)
    assert (probs > 0).sum() == 1


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"), [(0.7, 0, 0.9), (1.3, 40, 0.95), (1.0, 5, 1.0)]
)
def test_matches_hugging_face_sampling_warpers(temperature, top_k, top_p):
    torch = pytest.importorskip("torch")
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    logits = random_logits(seed=3)
    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)])
    if top_k:
        warpers.append(TopKLogitsWarper(top_k))
    if top_p < 1:
        warpers.append(TopPLogitsWarper(top_p))
    scores = warpers(None, torch.tensor(logits, dtype=torch.float64)[None, :])
    expected = torch.softmax(scores, dim=-1)[0].numpy()
    ours = reshape.reshape(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    assert np.array_equal(expected > 0, ours > 0)
    assert np.allclose(ours, expected, atol=1e-9)


def test_top_rows_are_ordered_by_logit_with_token_strings():
    logits = random_logits(seed=1, size=300)
    order = np.argsort(-logits)
    vocab = {int(i): f"tok{i}" for i in order[:200]}
    shaped = reshape.top_rows(logits, temperature=0.5, top_k=5, vocab=vocab, rows=20)
    assert [row.token_id for row in shaped.rows] == [int(i) for i in order[:20]]
    assert [row.rank for row in shaped.rows] == list(range(1, 21))
    assert all(row.token == f"tok{row.token_id}" for row in shaped.rows)
    assert [row.kept for row in shaped.rows] == [True] * 5 + [False] * 15
    assert all(row.prob == 0 for row in shaped.rows[5:])
    assert math.isclose(sum(row.prob for row in shaped.rows), 1.0, rel_tol=1e-9)
    assert shaped.kept == 5
    assert shaped.vocab_size == 300
    base = reshape.softmax(logits)
    assert shaped.rows[0].base_prob == pytest.approx(base[order[0]])


def test_logits_round_trip_through_bytes():
    logits = random_logits(size=10)
    assert np.array_equal(reshape.logits_from_bytes(logits.tobytes()), logits)


@pytest.mark.parametrize("raw", [b"", b"abc", b"12345"])
def test_logits_from_bytes_refuses_non_float32(raw):
    with pytest.raises(ValueError):
        reshape.logits_from_bytes(raw)


def test_softmax_refuses_non_positive_temperature():
    with pytest.raises(ValueError):
        reshape.softmax(LOGITS, temperature=0)
