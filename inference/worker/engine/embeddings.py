"""Two kinds of similarity between two sentences that share a word.

- contextual: BERT's last-layer vectors of the word's word-pieces, averaged, in each
  sentence; cosine of the two. The same word gets different vectors in different
  contexts ("bank" of a river vs. a bank account): that is what "contextual" means.
- sentence: the sentence encoder's embeddings (mean pooling over the last hidden state,
  then L2 normalisation, exactly what sentence-transformers does for all-MiniLM-L6-v2);
  cosine of the two.

Three steps, so the worker's batcher (``inference/worker/batching.py``) can run the model passes
for many requests at once: :func:`prepare` checks one request and finds the word's
pieces (its errors stay its own), :func:`forward` runs one right-padded BERT pass and one
encoder pass over both sentences of every request, :func:`finish` builds one result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inference.contract.validation import DemoInputError
from inference.worker.engine.common import Stopwatch, check_token_count, model_card

if TYPE_CHECKING:
    from inference.worker.loading import Loaded


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


@dataclass(frozen=True)
class _Sentence:
    text: str
    ids: list[int]
    tokens: list[str]
    pieces: list[int]  # positions of the word's word-pieces


@dataclass(frozen=True)
class EmbeddingsItem:
    """One checked request: both sentences tokenized, the word's pieces found."""

    word: str
    a: _Sentence
    b: _Sentence

    @property
    def length(self) -> int:
        return max(len(self.a.ids), len(self.b.ids))


@dataclass(frozen=True)
class EmbeddingsRow:
    vec_a: Any  # mean of the word's last-layer BERT vectors in sentence A
    vec_b: Any
    sentence_a: Any  # the encoder's L2-normalised sentence embedding
    sentence_b: Any


def _word_pieces(bert: Loaded, sentence: str, word: str, *, label: str, field: str) -> _Sentence:
    span = word_span(sentence, word)
    if span is None:
        raise DemoInputError(
            f"{label} doesn't contain the word “{word}” (as a whole word). "
            "Use the word in both sentences.",
            field=field,
        )
    with bert.tokenizer_lock:
        encoded = bert.tokenize(sentence, return_offsets_mapping=True)
        special = set(bert.tokenizer.all_special_ids)
        ids = list(encoded["input_ids"])
        tokens = bert.tokenizer.convert_ids_to_tokens(ids)
    start, end = span
    pieces = [
        i
        for i, ((s, e), token_id) in enumerate(zip(encoded["offset_mapping"], ids, strict=True))
        if token_id not in special and e > s and s < end and e > start
    ]
    if not pieces:  # e.g. the word normalised away by the tokenizer
        raise DemoInputError(
            f"BERT's tokenizer drops the word “{word}” in {label.lower()}; try another word.",
            field="word",
        )
    return _Sentence(text=sentence, ids=ids, tokens=tokens, pieces=pieces)


def prepare(
    bert: Loaded, encoder: Loaded, *, word: str, sentence_a: str, sentence_b: str
) -> EmbeddingsItem:
    """Check one request (raises :class:`DemoInputError` for that request only)."""
    for label, field, sentence in (
        ("Sentence A", "sentence_a", sentence_a),
        ("Sentence B", "sentence_b", sentence_b),
    ):
        check_token_count(bert, sentence, label=label, field=field)
        check_token_count(encoder, sentence, label=label, field=field)
    a = _word_pieces(bert, sentence_a, word, label="Sentence A", field="sentence_a")
    b = _word_pieces(bert, sentence_b, word, label="Sentence B", field="sentence_b")
    return EmbeddingsItem(word=word, a=a, b=b)


def _padded(ids: list[list[int]], pad_id: int, device: str) -> dict:
    """Right-padded ``input_ids`` + ``attention_mask`` (real tokens keep their positions)."""
    import torch

    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(ids), width), dtype=torch.long)
    for index, row in enumerate(ids):
        input_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[index, : len(row)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": attention.to(device)}


def forward(
    bert: Loaded, encoder: Loaded, items: Sequence[EmbeddingsItem]
) -> tuple[list[EmbeddingsRow], float]:
    """Both sentences of every item: one padded BERT pass and one padded encoder pass."""
    import torch

    sentences = [sentence for item in items for sentence in (item.a, item.b)]
    watch = Stopwatch()
    with watch.running(), torch.inference_mode():
        pad_id = bert.tokenizer.pad_token_id or 0
        encoded = _padded([s.ids for s in sentences], pad_id, bert.device)
        hidden = bert.model.base_model(**encoded).last_hidden_state.float().cpu()
        vectors = [hidden[i, s.pieces].mean(dim=0) for i, s in enumerate(sentences)]
        pooled = sentence_embeddings_batch(encoder, [s.text for s in sentences])
    rows = [
        EmbeddingsRow(
            vec_a=vectors[2 * i],
            vec_b=vectors[2 * i + 1],
            sentence_a=pooled[2 * i],
            sentence_b=pooled[2 * i + 1],
        )
        for i in range(len(items))
    ]
    return rows, watch.elapsed_ms


def finish(
    bert: Loaded,
    encoder: Loaded,
    item: EmbeddingsItem,
    row: EmbeddingsRow,
    *,
    elapsed_ms: float,
    batch_size: int = 1,
) -> dict:
    import torch

    contextual = float(torch.nn.functional.cosine_similarity(row.vec_a, row.vec_b, dim=0))
    sentence_similarity = float(row.sentence_a @ row.sentence_b)
    return {
        "word": item.word,
        "sentence_a": item.a.text,
        "sentence_b": item.b.text,
        "contextual": {
            "similarity": round(max(-1.0, min(1.0, contextual)), 6),
            "tokens_a": item.a.tokens,
            "tokens_b": item.b.tokens,
            "word_pieces": [item.a.tokens[i] for i in item.a.pieces],
            "word_pieces_b": [item.b.tokens[i] for i in item.b.pieces],
        },
        "sentence": {"similarity": round(max(-1.0, min(1.0, sentence_similarity)), 6)},
        "models": {"bert": model_card(bert), "encoder": model_card(encoder)},
        "elapsed_ms": round(elapsed_ms, 3),
        "batch_size": batch_size,
    }


def embeddings_batch(bert: Loaded, encoder: Loaded, requests: Sequence[dict]) -> list[dict]:
    """Several requests (``{"word", "sentence_a", "sentence_b"}``) in one pass per model."""
    items = [prepare(bert, encoder, **request) for request in requests]
    rows, elapsed_ms = forward(bert, encoder, items)
    return [
        finish(bert, encoder, item, row, elapsed_ms=elapsed_ms, batch_size=len(items))
        for item, row in zip(items, rows, strict=True)
    ]


def embeddings(
    bert: Loaded, encoder: Loaded, *, word: str, sentence_a: str, sentence_b: str
) -> dict:
    request = {"word": word, "sentence_a": sentence_a, "sentence_b": sentence_b}
    return embeddings_batch(bert, encoder, [request])[0]
