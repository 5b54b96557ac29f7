from __future__ import annotations

import pytest

from inference.worker.engine.next_sentence import next_sentence, next_sentence_batch
from inference.worker.loading import load_role

PAIRS = [
    ("The cat was hungry.", "It ate its food."),
    ("I went to the bank.", "Penguins live in the south."),
]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_probabilities_equal_the_nsp_head(any_runtime, a, b):
    import torch

    bert = any_runtime.bert
    result = next_sentence(bert, sentence_a=a, sentence_b=b)
    encoded = bert.tokenizer(a, b, return_tensors="pt")
    with torch.inference_mode():
        expected = bert.model(**encoded).seq_relationship_logits[0].softmax(-1).tolist()

    assert result["available"] is True
    assert result["is_next"] + result["not_next"] == pytest.approx(1.0, abs=1e-6)
    assert [result["is_next"], result["not_next"]] == pytest.approx(expected, abs=1e-5)


def test_batch_equals_one_by_one(tiny_runtime):
    batch = next_sentence_batch(tiny_runtime.bert, PAIRS)
    for (a, b), batched in zip(PAIRS, batch, strict=True):
        single = next_sentence(tiny_runtime.bert, sentence_a=a, sentence_b=b)
        assert batched["is_next"] == pytest.approx(single["is_next"], abs=1e-5)


def test_a_bert_without_nsp_weights_says_unavailable(tiny_runtime, tmp_path):
    from dataclasses import replace

    from transformers import BertForMaskedLM

    folder = tmp_path / "mlm-only"
    BertForMaskedLM.from_pretrained(tiny_runtime.bert.spec.path).save_pretrained(folder)
    tiny_runtime.bert.tokenizer.save_pretrained(folder)
    spec = replace(tiny_runtime.bert.spec, local_dir=folder, source=str(folder))

    loaded = load_role(spec, device="cpu", profile="tiny")
    result = next_sentence(loaded, sentence_a="A.", sentence_b="B.")

    assert loaded.has_nsp is False
    assert result["available"] is False
    assert "next-sentence" in result["message"]
    assert result["is_next"] is None
