from __future__ import annotations

import pytest

from inference.contract.validation import DemoInputError
from inference.worker.engine.fill_mask import fill_mask, fill_mask_batch

SENTENCES = [
    "The cat sat on the [MASK].",
    "[MASK] is the capital of France.",
    "The [MASK] read a [MASK] in the garden.",
    "A [MASK] [MASK] [MASK].",
]


@pytest.fixture(scope="module")
def reference_pipelines():
    cache = {}

    def get(loaded, top_k):
        from transformers import BertForMaskedLM, pipeline

        key = (str(loaded.spec.path), top_k)
        if key not in cache:
            model = BertForMaskedLM.from_pretrained(loaded.spec.path, local_files_only=True)
            cache[key] = pipeline(
                "fill-mask", model=model.eval(), tokenizer=loaded.tokenizer, top_k=top_k
            )
        return cache[key]

    return get


@pytest.mark.parametrize("text", SENTENCES)
@pytest.mark.parametrize("top_k", [1, 5])
def test_predictions_equal_the_transformers_pipeline(any_runtime, reference_pipelines, text, top_k):
    bert = any_runtime.bert
    result = fill_mask(bert, text=text, top_k=top_k)
    expected = reference_pipelines(bert, top_k)(text.replace("[MASK]", bert.tokenizer.mask_token))
    if text.count("[MASK]") == 1:
        expected = [expected]

    assert len(result["masks"]) == len(expected)
    for mask, reference in zip(result["masks"], expected, strict=True):
        assert result["tokens"][mask["index"]] == bert.tokenizer.mask_token
        assert [p["token_id"] for p in mask["predictions"]] == [r["token"] for r in reference]
        assert [p["token"] for p in mask["predictions"]] == [r["token_str"] for r in reference]
        assert [p["sequence"] for p in mask["predictions"]] == [r["sequence"] for r in reference]
        assert [p["score"] for p in mask["predictions"]] == pytest.approx(
            [r["score"] for r in reference], abs=1e-5
        )


def test_result_shape_and_model_card(tiny_runtime):
    result = fill_mask(tiny_runtime.bert, text="The cat sat on the [MASK].", top_k=3)

    assert result["text"] == "The cat sat on the [MASK]."
    assert result["tokens"][0] == "[CLS]" and result["tokens"][-1] == "[SEP]"
    assert len(result["masks"]) == 1
    scores = [p["score"] for p in result["masks"][0]["predictions"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)
    assert result["model"]["role"] == "bert"
    assert result["model"]["profile"] == "tiny"
    assert result["model"]["parameters"] > 0
    assert result["elapsed_ms"] >= 0


def test_batch_with_padding_equals_one_by_one(any_runtime):
    bert = any_runtime.bert
    batch = fill_mask_batch(bert, SENTENCES, top_k=4)
    for text, batched in zip(SENTENCES, batch, strict=True):
        single = fill_mask(bert, text=text, top_k=4)
        assert batched["tokens"] == single["tokens"]
        for a, b in zip(batched["masks"], single["masks"], strict=True):
            assert [p["token_id"] for p in a["predictions"]] == [
                p["token_id"] for p in b["predictions"]
            ]
            assert [p["score"] for p in a["predictions"]] == pytest.approx(
                [p["score"] for p in b["predictions"]], abs=1e-5
            )


def test_text_without_mask_is_refused(tiny_runtime):
    with pytest.raises(DemoInputError, match=r"\[MASK\]"):
        fill_mask(tiny_runtime.bert, text="No blank here.", top_k=3)


def test_too_many_tokens_is_refused_with_the_limit(tiny_runtime, settings):
    settings.DEMO_LIMITS = {**settings.DEMO_LIMITS, "max_input_tokens": 8}
    with pytest.raises(DemoInputError, match="limit is 8 tokens"):
        fill_mask(tiny_runtime.bert, text="the cat and the dog and the bird sat [MASK]", top_k=3)
