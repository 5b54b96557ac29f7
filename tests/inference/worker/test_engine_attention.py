from __future__ import annotations

import pytest

from inference.contract.validation import DemoInputError
from inference.worker.engine.attention import attention

TEXTS = ["The cat sat on the mat.", "Bank of the river"]


def reference(loaded, text):
    import torch

    encoded = loaded.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = loaded.model(**encoded, output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).float()


@pytest.mark.parametrize("text", TEXTS)
def test_attentions_equal_output_attentions(any_runtime, text):
    result = attention(any_runtime.bert, any_runtime.gpt, text=text)

    for role in ("bert", "gpt"):
        loaded = getattr(any_runtime, role)
        expected = reference(loaded, text)
        side = result[role]
        layers, heads, n, _ = expected.shape
        assert (side["layers"], side["heads"]) == (layers, heads)
        assert len(side["tokens"]) == n
        got = side["attentions"]
        assert len(got) == layers and len(got[0]) == heads and len(got[0][0]) == n
        flat_got = [v for layer in got for head in layer for row in head for v in row]
        assert flat_got == pytest.approx(expected.flatten().tolist(), abs=6e-5)
        assert all(round(v, 4) == v for v in flat_got)


def test_gpt_upper_triangle_is_exactly_zero_and_rows_sum_to_one(any_runtime):
    result = attention(any_runtime.bert, any_runtime.gpt, text="The cat sat on the mat.")
    for layer in result["gpt"]["attentions"]:
        for head in layer:
            for i, row in enumerate(head):
                assert all(v == 0.0 for v in row[i + 1 :])
                assert sum(row) == pytest.approx(1.0, abs=1e-3)
    # BERT looks both ways: some weight lies above the diagonal
    bert_head = result["bert"]["attentions"][0][0]
    assert any(v > 0 for i, row in enumerate(bert_head) for v in row[i + 1 :])


def test_tokens_are_readable(tiny_runtime):
    result = attention(tiny_runtime.bert, tiny_runtime.gpt, text="The cat")
    assert result["bert"]["tokens"][0] == "[CLS]"
    assert "␣cat" in result["gpt"]["tokens"]
    assert set(result["models"]) == {"bert", "gpt"}


def test_attention_has_its_own_token_limit(tiny_runtime, settings):
    settings.DEMO_LIMITS = {**settings.DEMO_LIMITS, "attention_max_tokens": 4}
    with pytest.raises(DemoInputError, match="limit is 4 tokens"):
        attention(tiny_runtime.bert, tiny_runtime.gpt, text="the cat sat on the mat")
