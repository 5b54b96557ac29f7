from __future__ import annotations

import pytest

from inference.worker.engine.tokenize import _is_byte_level, display_token, tokenize
from tests.inference.worker.test_gpt2_tokenizer import installed_tokenizer

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
    if _is_byte_level(any_runtime.gpt.tokenizer):
        check_byte_level_side(gpt, text, any_runtime.gpt.tokenizer)
        assert "gpt2" not in result
    else:  # a GPT on BERT's WordPiece: GPT-2's real tokenizer is shown as well
        check_byte_level_side(result["gpt2"], text, installed_tokenizer())


def check_byte_level_side(side: dict, text: str, tokenizer) -> None:
    assert len(side["tokens"]) == len(side["raw_tokens"]) == len(side["ids"])
    assert len(side["ids"]) == len(side["offsets"])
    # Byte-level BPE covers every character: the distinct spans rebuild the text.
    spans = []
    for start, end in side["offsets"]:
        assert 0 <= start <= end <= len(text)
        if not spans or (start, end) != spans[-1]:
            spans.append((start, end))
    assert "".join(text[s:e] for s, e in spans) == text
    assert tokenizer.decode(side["ids"]) == text
    assert side["scheme"] == "byte-level BPE"


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


# --- A GPT whose tokenizer isn't byte-level: GPT-2's real tokenizer as a third side ----------


def test_a_wordpiece_gpt_is_shown_with_gpt2s_real_tokenizer(tiny_runtime, wordpiece_gpt):
    installed_tokenizer()
    assert wordpiece_gpt.tokenizer is not tiny_runtime.bert.tokenizer
    result = tokenize(tiny_runtime.bert, wordpiece_gpt, text="Hello world")
    bert, gpt, gpt2 = result["bert"], result["gpt"], result["gpt2"]

    assert gpt2["ids"] == [15496, 995]
    assert gpt2["raw_tokens"] == ["Hello", "Ġworld"]
    assert gpt2["tokens"] == ["Hello", "␣world"]
    assert gpt2["offsets"] == [[0, 5], [5, 11]]
    assert gpt2["scheme"] == "byte-level BPE"
    assert gpt2["vocab_size"] == 50257
    assert "gpt2" in gpt2["name"]
    # The GPT side stays the loaded GPT's own tokenizer, and says it is BERT's WordPiece.
    assert gpt["ids"] == bert["ids"]
    assert gpt["scheme"] == bert["scheme"] == "WordPiece"
    assert gpt["shares_bert_vocabulary"] is True
    assert gpt["name"] == tiny_runtime.gpt.info["name"]
    assert set(result["models"]) == {"bert", "gpt"}


def test_gpt2s_side_splits_words_as_gpt2_does(tiny_runtime, wordpiece_gpt):
    installed_tokenizer()
    result = tokenize(tiny_runtime.bert, wordpiece_gpt, text="unbelievably 🙂")
    gpt2 = result["gpt2"]

    assert gpt2["ids"][:4] == [403, 6667, 11203, 1346]
    assert gpt2["tokens"][:4] == ["un", "bel", "iev", "ably"]
    assert "".join(gpt2["tokens"]) == "unbelievably␣🙂"


@pytest.mark.parametrize("text", TEXTS)
def test_gpt2s_side_covers_the_text(tiny_runtime, wordpiece_gpt, text):
    result = tokenize(tiny_runtime.bert, wordpiece_gpt, text=text)
    check_byte_level_side(result["gpt2"], text, installed_tokenizer())


def test_a_byte_level_gpt_needs_no_third_side(tiny_runtime):
    result = tokenize(tiny_runtime.bert, tiny_runtime.gpt, text="Hello world")
    assert "gpt2" not in result
    assert result["gpt"]["scheme"] == "byte-level BPE"
    assert result["gpt"]["shares_bert_vocabulary"] is False
    assert result["bert"]["scheme"] == "WordPiece"
    assert result["bert"]["vocab_size"] == len(tiny_runtime.bert.tokenizer)


def test_without_the_files_a_wordpiece_gpt_is_shown_alone(
    tiny_runtime, wordpiece_gpt, settings, tmp_path
):
    settings.GPT2_TOKENIZER_DIR = tmp_path / "not-installed"
    result = tokenize(tiny_runtime.bert, wordpiece_gpt, text="Hello world")
    assert "gpt2" not in result
    assert result["gpt"]["shares_bert_vocabulary"] is True
