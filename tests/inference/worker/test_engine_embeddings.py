from __future__ import annotations

import pytest

from inference.contract.registry import profile_specs
from inference.contract.validation import DemoInputError
from inference.worker.engine.embeddings import embeddings, sentence_embeddings_batch, word_span
from inference.worker.loading import load_role


def test_similarities_are_cosines_in_range(any_runtime):
    result = embeddings(
        any_runtime.bert,
        any_runtime.encoder,
        word="bank",
        sentence_a="She sat on the bank of the river.",
        sentence_b="He paid the money into the bank.",
    )
    assert -1.0 <= result["contextual"]["similarity"] <= 1.0
    assert -1.0 <= result["sentence"]["similarity"] <= 1.0
    assert result["contextual"]["word_pieces"]
    assert set(result["models"]) == {"bert", "encoder"}


def test_identical_sentences_are_similar_to_one(any_runtime):
    sentence = "The bank was closed on Sunday."
    result = embeddings(
        any_runtime.bert, any_runtime.encoder, word="bank", sentence_a=sentence, sentence_b=sentence
    )
    assert result["contextual"]["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert result["sentence"]["similarity"] == pytest.approx(1.0, abs=1e-5)


def test_contextual_vector_is_the_mean_of_the_word_pieces(tiny_runtime):
    import torch

    bert = tiny_runtime.bert
    sentence_a, sentence_b = "an unbelievable story!", "the unbelievable cat"
    result = embeddings(
        bert,
        tiny_runtime.encoder,
        word="Unbelievable",
        sentence_a=sentence_a,
        sentence_b=sentence_b,
    )
    pieces = result["contextual"]["word_pieces"]
    assert len(pieces) > 1 and pieces[0] == "u"  # the tiny vocab splits it

    def vector(sentence):
        encoded = bert.tokenizer(sentence, return_tensors="pt")
        with torch.inference_mode():
            hidden = bert.model.base_model(**encoded).last_hidden_state[0]
        tokens = bert.tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
        start = tokens.index("u")
        end = start + 1
        while tokens[end].startswith("##"):
            end += 1
        assert tokens[start:end] == pieces
        return hidden[start:end].mean(0)

    expected = torch.nn.functional.cosine_similarity(vector(sentence_a), vector(sentence_b), dim=0)
    assert result["contextual"]["similarity"] == pytest.approx(float(expected), abs=1e-5)


def test_word_missing_from_a_sentence_is_refused(tiny_runtime):
    with pytest.raises(DemoInputError, match="Sentence B"):
        embeddings(
            tiny_runtime.bert,
            tiny_runtime.encoder,
            word="bank",
            sentence_a="The bank.",
            sentence_b="The banks.",
        )


def test_word_span_is_whole_word_and_case_insensitive():
    assert word_span("The Bank, the bank.", "bank") == (4, 8)
    assert word_span("riverbank", "bank") is None


def test_sentence_embeddings_equal_sentence_transformers_on_real_minilm(settings, tmp_path):
    """The bundled all-MiniLM-L6-v2: our mean pooling + L2 norm = SentenceTransformer.encode."""
    import torch
    from sentence_transformers import SentenceTransformer

    settings.MODELS_DIR = tmp_path
    spec = profile_specs("demo")["encoder"]
    encoder = load_role(spec, device="cpu", profile="demo")
    sentences = [
        "The cat sat on the mat.",
        "A quick brown fox jumps over the lazy dog, again and again.",
        "Banks lend money.",
    ]
    ours = sentence_embeddings_batch(encoder, sentences)
    reference = torch.tensor(
        SentenceTransformer(str(spec.path), device="cpu").encode(sentences), dtype=torch.float32
    )
    cosines = torch.nn.functional.cosine_similarity(ours, reference, dim=1)
    assert cosines.tolist() == pytest.approx([1.0] * len(sentences), abs=1e-5)
    assert torch.linalg.norm(ours, dim=1).tolist() == pytest.approx([1.0] * 3, abs=1e-5)
