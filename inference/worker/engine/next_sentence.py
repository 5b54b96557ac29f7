"""BERT's next-sentence prediction: does sentence B follow sentence A?

Softmax of the NSP head (``BertForPreTraining.seq_relationship``): index 0 is "B is the
next sentence", index 1 "B is a random sentence". A BERT checkpoint saved without NSP
weights can't answer: the result says ``available: false`` with a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference.worker.engine.common import Stopwatch, check_token_count, model_card

if TYPE_CHECKING:
    from inference.worker.loading import Loaded

UNAVAILABLE = (
    "This BERT model was saved without its next-sentence head, so it can't judge whether "
    "sentence B follows sentence A."
)


def next_sentence_batch(bert: Loaded, pairs: list[tuple[str, str]]) -> list[dict]:
    import torch

    card = model_card(bert)
    if not bert.has_nsp:
        return [
            {
                "sentence_a": a,
                "sentence_b": b,
                "available": False,
                "message": UNAVAILABLE,
                "is_next": None,
                "not_next": None,
                "model": card,
                "elapsed_ms": 0.0,
            }
            for a, b in pairs
        ]
    for a, b in pairs:
        check_token_count(bert, a, pair=b, label="The two sentences", field="sentence_b")
    watch = Stopwatch()
    with watch.running(), torch.inference_mode():
        encoded = bert.tokenize(
            [a for a, _ in pairs], [b for _, b in pairs], padding=True, return_tensors="pt"
        )
        encoded = {key: value.to(bert.device) for key, value in encoded.items()}
        logits = bert.model(**encoded).seq_relationship_logits.float()
        probs = logits.softmax(dim=-1).cpu().tolist()
    per_pair_ms = watch.elapsed_ms / max(1, len(pairs))
    return [
        {
            "sentence_a": a,
            "sentence_b": b,
            "available": True,
            "is_next": float(p[0]),
            "not_next": float(p[1]),
            "model": card,
            "elapsed_ms": round(per_pair_ms, 3),
        }
        for (a, b), p in zip(pairs, probs, strict=True)
    ]


def next_sentence(bert: Loaded, *, sentence_a: str, sentence_b: str) -> dict:
    return next_sentence_batch(bert, [(sentence_a, sentence_b)])[0]
