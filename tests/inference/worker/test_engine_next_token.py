from __future__ import annotations

import numpy as np
import pytest

from inference.worker.engine.next_token import VOCAB_TOP, logits_key, next_token, next_token_batch

PROMPTS = ["The cat", "Once upon a time, in a small village by the", "Hi"]


def reference_logits(gpt, prompt: str):
    import torch

    encoded = gpt.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        return gpt.model(**encoded).logits[0, -1].float()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_candidates_and_full_logits_equal_a_plain_forward_pass(any_runtime, prompt):
    gpt = any_runtime.gpt
    output = next_token(gpt, prompt=prompt, top_k=10)
    logits = reference_logits(gpt, prompt)
    probs = logits.softmax(-1)
    expected_probs, expected_ids = probs.topk(10)

    candidates = output.result["candidates"]
    assert [c["token_id"] for c in candidates] == expected_ids.tolist()
    assert [c["prob"] for c in candidates] == pytest.approx(expected_probs.tolist(), abs=1e-5)
    assert [c["logit"] for c in candidates] == pytest.approx(
        logits[expected_ids].tolist(), abs=1e-4
    )
    assert [c["token"] for c in candidates] == [gpt.tokenizer.decode([i]) for i in expected_ids]

    stored = np.frombuffer(output.logits, dtype="<f4")
    assert stored.shape == (logits.shape[-1],)
    assert stored == pytest.approx(logits.numpy(), abs=1e-4)
    assert output.result["vocab_size"] == logits.shape[-1]
    assert [token_id for token_id, _ in output.vocab[:10]] == expected_ids.tolist()
    assert len(output.vocab) == min(VOCAB_TOP, logits.shape[-1])


def test_batch_with_right_padding_equals_one_by_one(any_runtime):
    gpt = any_runtime.gpt
    batch = next_token_batch(gpt, PROMPTS, top_k=5)
    for prompt, batched in zip(PROMPTS, batch, strict=True):
        single = next_token(gpt, prompt=prompt, top_k=5)
        assert [c["token_id"] for c in batched.result["candidates"]] == [
            c["token_id"] for c in single.result["candidates"]
        ]
        assert np.frombuffer(batched.logits, "<f4") == pytest.approx(
            np.frombuffer(single.logits, "<f4"), abs=1e-4
        )


def test_logits_key_depends_on_model_and_prompt(tiny_runtime):
    output = next_token(tiny_runtime.gpt, prompt="The cat", top_k=3)
    key = output.result["logits_key"]

    assert key == logits_key(tiny_runtime.gpt.info["name"], "The cat")
    assert key.startswith("demo:logits:") and len(key) == len("demo:logits:") + 64
    assert logits_key("m", "The cat") != logits_key("m", "The dog")
    assert logits_key("m1", "x") != logits_key("m2", "x")
    assert output.result["model"]["role"] == "gpt"
