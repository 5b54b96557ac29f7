"""Two kinds of similarity between two sentences that share a word.

- contextual: BERT's last-layer vectors of the word's word-pieces, averaged, in each
  sentence; cosine of the two. The same word gets different vectors in different
  contexts ("bank" of a river vs. a bank account): that is what "contextual" means.
- sentence: the sentence encoder's embeddings (mean pooling over the last hidden state,
  then L2 normalisation, exactly what sentence-transformers does for all-MiniLM-L6-v2);
  cosine of the two.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from inference.engine.common import Stopwatch, check_token_count, model_card
from inference.validation import DemoInputError

if TYPE_CHECKING:
    from inference.loading import Loaded


def word_span(sentence: str, word: str) -> tuple[int, int] | None:
    """Character span of the first whole-word, case-insensitive occurrence of ``word``."""
    match = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", sentence, flags=re.IGNORECASE)
    return match.span() if match else None


def sentence_embeddings_batch(encoder: Loaded, texts: list[str]):
    """Mean-pooled, L2-normalised sentence embeddings, shape (len(texts), hidden)."""
    import torch

    with torch.inference_mode():
        encoded = encoder.tokenize(texts, padding=True, truncation=True, return_tensors="pt")
        encoded = {key: value.to(encoder.device) for key, value in encoded.items()}
        hidden = encoder.model(**encoded).last_hidden_state.float()
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).cpu()


def _word_vector(bert: Loaded, sentence: str, word: str, *, label: str, field: str):
    import torch

    span = word_span(sentence, word)
    if span is None:
        raise DemoInputError(
            f"{label} doesn't contain the word “{word}” (as a whole word). "
            "Use the word in both sentences.",
            field=field,
        )
    with bert.tokenizer_lock:
        encoded = bert.tokenize(sentence, return_offsets_mapping=True, return_tensors="pt")
        special = set(bert.tokenizer.all_special_ids)
        ids = encoded["input_ids"][0].tolist()
        tokens = bert.tokenizer.convert_ids_to_tokens(ids)
    offsets = encoded.pop("offset_mapping")[0].tolist()
    start, end = span
    pieces = [
        i
        for i, ((s, e), token_id) in enumerate(zip(offsets, ids, strict=True))
        if token_id not in special and e > s and s < end and e > start
    ]
    if not pieces:  # e.g. the word normalised away by the tokenizer
        raise DemoInputError(
            f"BERT's tokenizer drops the word “{word}” in {label.lower()}; try another word.",
            field="word",
        )
    encoded = {key: value.to(bert.device) for key, value in encoded.items()}
    with torch.inference_mode():
        hidden = bert.model.base_model(**encoded).last_hidden_state[0].float().cpu()
    return hidden[pieces].mean(dim=0), tokens, [tokens[i] for i in pieces]


def embeddings(
    bert: Loaded, encoder: Loaded, *, word: str, sentence_a: str, sentence_b: str
) -> dict:
    import torch

    for label, field, sentence in (
        ("Sentence A", "sentence_a", sentence_a),
        ("Sentence B", "sentence_b", sentence_b),
    ):
        check_token_count(bert, sentence, label=label, field=field)
        check_token_count(encoder, sentence, label=label, field=field)

    watch = Stopwatch()
    with watch.running():
        vec_a, tokens_a, pieces_a = _word_vector(
            bert, sentence_a, word, label="Sentence A", field="sentence_a"
        )
        vec_b, tokens_b, pieces_b = _word_vector(
            bert, sentence_b, word, label="Sentence B", field="sentence_b"
        )
        contextual = float(torch.nn.functional.cosine_similarity(vec_a, vec_b, dim=0))
        sentence_vectors = sentence_embeddings_batch(encoder, [sentence_a, sentence_b])
        sentence_similarity = float(sentence_vectors[0] @ sentence_vectors[1])
    return {
        "word": word,
        "sentence_a": sentence_a,
        "sentence_b": sentence_b,
        "contextual": {
            "similarity": round(max(-1.0, min(1.0, contextual)), 6),
            "tokens_a": tokens_a,
            "tokens_b": tokens_b,
            "word_pieces": pieces_a,
            "word_pieces_b": pieces_b,
        },
        "sentence": {"similarity": round(max(-1.0, min(1.0, sentence_similarity)), 6)},
        "models": {"bert": model_card(bert), "encoder": model_card(encoder)},
        "elapsed_ms": round(watch.elapsed_ms, 3),
    }
