from __future__ import annotations

import hashlib

from inference.worker import tiny


def digest(folder) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def test_builds_are_byte_for_byte_reproducible(tiny_models_dir, tmp_path):
    tiny.build_tiny_models(tmp_path / "tiny")
    for role in ("bert", "gpt", "encoder"):
        assert digest(tmp_path / "tiny" / role) == digest(tiny_models_dir / "tiny" / role)


def test_tokenizers_have_about_a_thousand_tokens(tiny_runtime):
    assert 900 <= len(tiny_runtime.bert.tokenizer) <= 1000
    assert 900 <= len(tiny_runtime.gpt.tokenizer) <= 1000
    assert tiny_runtime.bert.tokenizer.tokenize("The cat sat") == ["the", "cat", "s", "##at"]


def test_model_sizes(tiny_runtime):
    bert = tiny_runtime.bert.model.config
    gpt = tiny_runtime.gpt.model.config
    assert (bert.num_hidden_layers, bert.hidden_size, bert.num_attention_heads) == (2, 32, 2)
    assert (bert.intermediate_size, bert.max_position_embeddings) == (64, 128)
    assert (gpt.n_layer, gpt.n_embd, gpt.n_head, gpt.n_positions) == (2, 32, 2, 128)


def test_corpus_is_deterministic_and_covers_the_word_list():
    lines = tiny.corpus_lines()
    assert lines == tiny.corpus_lines()
    assert len(lines) > 300
    words = set(" ".join(lines).lower().split())
    assert "cat" in words and "unbelievable" not in words
