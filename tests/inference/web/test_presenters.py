"""The pure shaping functions behind the result templates (presenters, result shapes and
attention maps)."""

from __future__ import annotations

import pytest

from inference.web.attention_maps import attention_map, attention_selection
from inference.web.presenters import model_cards
from inference.web.result_shapes import (
    compare_settings,
    embeddings_view,
    fill_mask_words,
    generated_tokens,
    highlight_word,
    initial_reshaped,
    printable,
    token_alignment,
    token_views,
)


def prediction(token: str, score: float = 0.5) -> dict:
    return {"token": token, "token_id": 1, "score": score, "sequence": ""}


def test_fill_mask_words_fill_each_blank_and_mask_one_word_at_a_time():
    result = {
        "text": "The [MASK] sat on the [MASK].",
        "masks": [
            {"index": 2, "predictions": [prediction("cat"), prediction("dog")]},
            {"index": 6, "predictions": [prediction(" mat ")]},
        ],
    }
    words = fill_mask_words(result)
    assert "".join(w["text"] for w in words) == "The cat sat on the mat."
    clickable = [(w["text"], w["masked"], w["guess"]) for w in words if w["clickable"]]
    assert clickable == [
        ("The", "[MASK] cat sat on the mat.", False),
        ("cat", "The [MASK] sat on the mat.", True),
        ("sat", "The cat [MASK] on the mat.", False),
        ("on", "The cat sat [MASK] the mat.", False),
        ("the", "The cat sat on [MASK] mat.", False),
        ("mat", "The cat sat on the [MASK].", True),
    ]
    assert not any(w["clickable"] for w in words if w["text"] in {" ", "."})


def test_fill_mask_words_keep_punctuation_apostrophes_and_unfilled_blanks():
    words = fill_mask_words({"text": "It's [MASK]!", "masks": []})
    assert [w["text"] for w in words] == ["It's", " ", "[MASK]", "!"]
    assert [w["clickable"] for w in words] == [True, False, False, False]


def test_generated_tokens_rank_the_chosen_token_among_its_candidates():
    tokens = [
        {"index": 1, "token": " b", "token_id": 9, "prob": 0.1,
         "alternatives": [{"token": " x", "token_id": 3, "prob": 0.6},
                          {"token": " b", "token_id": 9, "prob": 0.1},
                          {"token": " y", "token_id": 4, "prob": 0.05}]},
        {"index": 0, "token": "\x16", "token_id": 7, "prob": 0.9, "alternatives": [], "eos": True},
    ]  # fmt: skip
    views = generated_tokens(tokens)
    assert [v["index"] for v in views] == [0, 1]
    assert views[0]["text"] == "␖" and views[0]["eos"] and views[0]["rank"] == 1
    assert views[1]["rank"] == 2
    assert [a["token"] for a in views[1]["above"]] == [" x"]
    assert [a["token"] for a in views[1]["beat"]] == [" y"]  # never itself


def test_compare_settings_reuse_the_seed_that_was_used():
    result = {"prompt": "Hi", "settings": {"do_sample": True, "temperature": 0.7, "top_k": 5,
              "top_p": 0.9, "seed": None, "seed_used": 77, "max_new_tokens": 9}}  # fmt: skip
    settings = compare_settings(result, {})
    assert settings["seed"] == 77 and settings["temperature"] == 0.7
    assert settings["suggested"] == 1.5 and settings["top_k"] == 5 and settings["sampled"]
    greedy = compare_settings({"prompt": "Hi", "settings": {"do_sample": False}}, {})
    assert greedy["seed"] == 42 and not greedy["sampled"] and greedy["top_p"] == 1.0
    assert compare_settings({}, {}) is None


def square(value: float, n: int) -> list[list[float]]:
    return [[value] * n for _ in range(n)]


VIEW = {
    "tokens": ["a", "b", "c"],
    "attentions": [[square(0.2, 3), square(0.4, 3)]],
}


def test_attention_map_averages_heads_and_masks_the_future_for_gpt():
    gpt = attention_map(VIEW, role="gpt", layer=1, head=0, focus=1)
    assert [c["value"] for c in gpt["rows"][0]["cells"]] == pytest.approx([0.3, 0.3, 0.3])
    assert [c["masked"] for c in gpt["rows"][0]["cells"]] == [False, True, True]
    assert [s["visible"] for s in gpt["sees"]] == [True, True, False]
    assert gpt["visible_count"] == 2 and gpt["hidden_count"] == 1
    bert = attention_map(VIEW, role="bert", layer=1, head=2, focus=1)
    assert not any(c["masked"] for row in bert["rows"] for c in row["cells"])
    assert bert["rows"][2]["cells"][0]["percent"] == 40 and bert["visible_count"] == 3
    assert attention_map({"tokens": [], "attentions": []}, role="gpt", layer=1, head=0,
                         focus=0) is None  # fmt: skip


def test_attention_selection_clamps_and_prefers_a_picked_position():
    result = {"bert": VIEW, "gpt": VIEW}
    chosen = attention_selection(
        {"bert_layer": "5", "bert_head": "-1", "bert_focus": "0", "bert_pick": "2",
         "gpt_layer": "nope"}, result)  # fmt: skip
    assert chosen["bert"] == {"layer": 1, "head": 0, "focus": 2}
    assert chosen["gpt"] == {"layer": 1, "head": 0, "focus": 1}


def test_token_alignment_puts_each_token_under_its_word():
    result = {
        "text": "New  york!",
        "bert": {"tokens": ["[CLS]", "new", "york", "!", "[SEP]"], "ids": [1, 2, 3, 4, 5],
                 "offsets": [[0, 0], [0, 3], [5, 9], [9, 10], [0, 0]]},
        "gpt": {"tokens": ["New", "␣", "␣york", "!"], "ids": [6, 7, 8, 9],
                "offsets": [[0, 3], [3, 4], [4, 9], [9, 10]]},
    }  # fmt: skip
    columns = token_alignment(result)
    assert [c["text"] for c in columns] == ["", "New", "york!", ""]
    assert [[p["token"] for p in c["bert"]] for c in columns] == [
        ["[CLS]"],
        ["new"],
        ["york", "!"],
        ["[SEP]"],
    ]
    # A space-only BPE token belongs to the word after it.
    assert [[p["token"] for p in c["gpt"]] for c in columns] == [
        [],
        ["New"],
        ["␣", "␣york", "!"],
        [],
    ]


def test_gpt2s_real_tokenizer_gets_a_third_row_and_says_what_each_side_is():
    result = {
        "text": "Hi there",
        "bert": {"tokens": ["[CLS]", "hi", "there", "[SEP]"], "ids": [1, 2, 3, 4],
                 "offsets": [[0, 0], [0, 2], [3, 8], [0, 0]], "scheme": "WordPiece",
                 "vocab_size": 30522},
        "gpt": {"tokens": ["[CLS]", "hi", "there"], "ids": [1, 2, 3],
                "offsets": [[0, 0], [0, 2], [3, 8]], "scheme": "WordPiece", "vocab_size": 30522,
                "shares_bert_vocabulary": True},
        "gpt2": {"tokens": ["Hi", "␣there"], "ids": [17250, 612], "offsets": [[0, 2], [2, 8]],
                 "scheme": "byte-level BPE", "vocab_size": 50257, "name": "gpt2"},
    }  # fmt: skip
    views = token_views(result)
    assert [(v["role"], v["title"], v["about"]) for v in views] == [
        ("bert", "BERT", ""),
        ("gpt", "GPT", "shares BERT's WordPiece"),
        ("gpt2", "GPT-2's tokenizer", "byte-level BPE, 50,257 tokens; the real gpt2 files"),
    ]
    columns = token_alignment(result)
    assert [c["text"] for c in columns] == ["", "Hi", "there", ""]
    assert [[p["token"] for p in c["gpt2"]] for c in columns] == [[], ["Hi"], ["␣there"], []]
    assert [[p["id"] for p in c["gpt"]] for c in columns] == [[1], [2], [3], []]


def test_a_byte_level_gpt_and_older_results_need_no_tokenizer_note():
    gpt = {"tokens": ["Hi"], "ids": [7], "offsets": [[0, 2]]}
    assert token_views({"text": "Hi", "gpt": gpt})[0]["about"] == ""
    gpt |= {"scheme": "byte-level BPE", "vocab_size": 50257, "shares_bert_vocabulary": False}
    assert token_views({"text": "Hi", "gpt": gpt})[0]["about"] == ""
    columns = token_alignment({"text": "Hi", "gpt": gpt})
    assert [c["gpt2"] for c in columns] == [[]]


def test_highlight_word_and_embedding_bars():
    assert highlight_word("A Bank, a bankrupt bank", "bank") == {
        "before": "A ", "word": "Bank", "after": ", a bankrupt bank"
    }  # fmt: skip
    assert highlight_word("nothing here", "bank")["word"] == ""
    view = embeddings_view({"word": "x", "sentence_a": "x y", "sentence_b": "y x",
                            "contextual": {"similarity": 0.5}, "sentence": {}})  # fmt: skip
    assert view["contextual"]["bar"].width == 25.0 and view["sentence"]["bar"].width == 0.0


def test_initial_bars_are_the_candidates_at_temperature_one():
    shaped = initial_reshaped(
        {"candidates": [{"token": " a", "token_id": 4, "prob": 0.5}], "vocab_size": 10}
    )
    assert shaped.kept == shaped.vocab_size == 10 and shaped.temperature == 1.0
    assert shaped.rows[0].prob == shaped.rows[0].base_prob == 0.5 and shaped.rows[0].kept


def test_model_cards_name_each_role():
    cards = model_cards({"models": {"gpt": {"name": "g"}, "bert": {"name": "b"}}})
    assert [(c["role"], c["role_name"]) for c in cards] == [("bert", "BERT"), ("gpt", "GPT")]
    assert model_cards(None) == []


def test_printable_shows_control_characters():
    assert printable("a\x00b\x7fc\nd\te") == "a␀b␡c\nd\te"


@pytest.mark.parametrize(
    ("is_next", "unsure"), [(0.52, True), (0.41, True), (0.35, False), (0.9, False)]
)
def test_a_next_sentence_verdict_near_50_50_is_called_a_coin_flip(is_next, unsure):
    from django.template.loader import render_to_string

    from inference.web.result_shapes import next_sentence_view

    result = {
        "available": True,
        "sentence_a": "The cat sat on the mat.",
        "sentence_b": "It was very comfortable.",
        "is_next": is_next,
        "not_next": 1 - is_next,
    }
    nsp = next_sentence_view(result)
    assert nsp["unsure"] is unsure
    html = render_to_string("inference/results/next_sentence.html", {"result": result, "nsp": nsp})
    assert ("a coin flip would do about as well" in html) is unsure
