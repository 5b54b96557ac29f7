from __future__ import annotations

import pytest

from inference.engine.tokenize import display_token, tokenize

TEXTS = [
    "The cat sat on the mat.",
    "Unbelievable tokenization, isn't it?",
    "Héllo wörld 🙂\ttab\nnew line",
    "  leading spaces",
]


@pytest.mark.parametrize("text", TEXTS)
def test_offsets_point_into_the_text(any_runtime, text):
    result = tokenize(any_runtime.bert, any_runtime.gpt, text=text)
    bert, gpt = result["bert"], result["gpt"]

    assert len(bert["tokens"]) == len(bert["ids"]) == len(bert["offsets"])
    tokenizer = any_runtime.bert.tokenizer
    added = set(tokenizer.all_special_tokens) - {tokenizer.unk_token}
    for token, (start, end) in zip(bert["tokens"], bert["offsets"], strict=True):
        assert 0 <= start <= end <= len(text)
        if token in added:  # [CLS], [SEP]: not in the text
            assert (start, end) == (0, 0)
        elif token == tokenizer.unk_token:  # an unknown character still has its place
            assert end > start
        else:
            assert end > start
            piece = text[start:end].lower()
            assert piece == token.removeprefix("##") or any(ord(c) > 127 for c in piece)

    assert len(gpt["tokens"]) == len(gpt["raw_tokens"]) == len(gpt["ids"]) == len(gpt["offsets"])
    # Byte-level BPE covers every character: the distinct spans rebuild the text.
    spans = []
    for start, end in gpt["offsets"]:
        assert 0 <= start <= end <= len(text)
        if not spans or (start, end) != spans[-1]:
            spans.append((start, end))
    assert "".join(text[s:e] for s, e in spans) == text
    assert any_runtime.gpt.tokenizer.decode(gpt["ids"]) == text


def test_display_forms(tiny_runtime):
    tokenizer = tiny_runtime.gpt.tokenizer
    result = tokenize(tiny_runtime.bert, tiny_runtime.gpt, text="The cat\n🙂")
    gpt = result["gpt"]

    assert "␣cat" in gpt["tokens"]
    assert "Ġcat" in gpt["raw_tokens"]
    assert "↵" in gpt["tokens"]
    # the emoji is split into bytes by the tiny BPE: each shown as its bytes
    assert any(t.startswith("⟨") and t.endswith("⟩") for t in gpt["tokens"])
    assert display_token(tokenizer, tokenizer.eos_token_id) == "<|endoftext|>"
    assert result["bert"]["name"] == tiny_runtime.bert.info["name"]
    assert set(result["models"]) == {"bert", "gpt"}


def test_whole_emoji_token_is_shown_as_the_character(tiny_runtime):
    tokenizer = tiny_runtime.gpt.tokenizer
    ids = tokenizer("é")["input_ids"]
    shown = "".join(display_token(tokenizer, i) for i in ids)
    assert shown in {"é", "⟨c3⟩⟨a9⟩"}
