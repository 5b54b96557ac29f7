"""BERT fill-mask: the top-k words for each [MASK], with probabilities.

Predictions equal ``transformers.pipeline("fill-mask", top_k=k)`` on the same model:
softmax over the vocabulary at each mask position, top-k, the token decoded alone, and
the sentence decoded with that token in place (special tokens kept when there are
several masks, so the other [MASK]s stay visible), exactly as the pipeline builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference.engine.common import Stopwatch, check_token_count, model_card
from inference.validation import MASK, DemoInputError

if TYPE_CHECKING:
    from inference.loading import Loaded


def _mlm_logits(outputs):
    logits = getattr(outputs, "prediction_logits", None)
    return outputs.logits if logits is None else logits


def fill_mask_batch(bert: Loaded, texts: list[str], *, top_k: int) -> list[dict]:
    """Fill the masks of several sentences in one padded forward pass."""
    import torch

    tokenizer = bert.tokenizer
    if tokenizer.mask_token is None:
        raise DemoInputError("This BERT model has no [MASK] token, so it can't fill in blanks.")
    model_texts = [text.replace(MASK, tokenizer.mask_token) for text in texts]
    for text in model_texts:
        check_token_count(bert, text, label="The sentence", field="text")

    watch = Stopwatch()
    with watch.running(), torch.inference_mode():
        encoded = bert.tokenize(model_texts, padding=True, return_tensors="pt")
        encoded = {key: value.to(bert.device) for key, value in encoded.items()}
        logits = _mlm_logits(bert.model(**encoded)).float()
        top_k = max(1, min(int(top_k), logits.shape[-1]))
        input_ids = encoded["input_ids"].cpu()
        attention = encoded["attention_mask"].cpu()
        rows = []
        for row in range(len(texts)):
            ids = input_ids[row][attention[row].bool()]
            mask_positions = torch.nonzero(ids == tokenizer.mask_token_id).squeeze(-1).tolist()
            if not mask_positions:
                raise DemoInputError(
                    "Put [MASK] where BERT should guess a word, for example "
                    "“The cat sat on the [MASK].”",
                    field="text",
                )
            probs = logits[row, mask_positions].softmax(dim=-1).cpu()
            values, predictions = probs.topk(top_k)
            rows.append((ids, mask_positions, values.tolist(), predictions.tolist()))
    per_text_ms = watch.elapsed_ms / max(1, len(texts))

    with bert.tokenizer_lock:
        return _results(bert, texts, rows, per_text_ms)


def _results(bert: Loaded, texts: list[str], rows: list, per_text_ms: float) -> list[dict]:
    tokenizer = bert.tokenizer
    results = []
    card = model_card(bert)
    for text, (ids, mask_positions, values, predictions) in zip(texts, rows, strict=True):
        single_mask = len(mask_positions) == 1
        masks = []
        for position, row_values, row_predictions in zip(
            mask_positions, values, predictions, strict=True
        ):
            candidates = []
            for score, token_id in zip(row_values, row_predictions, strict=True):
                filled = ids.clone()
                filled[position] = token_id
                candidates.append(
                    {
                        "token": tokenizer.decode([token_id]),
                        "token_id": int(token_id),
                        "score": float(score),
                        "sequence": tokenizer.decode(filled, skip_special_tokens=single_mask),
                    }
                )
            masks.append({"index": int(position), "predictions": candidates})
        results.append(
            {
                "text": text,
                "tokens": tokenizer.convert_ids_to_tokens(ids.tolist()),
                "masks": masks,
                "model": card,
                "elapsed_ms": round(per_text_ms, 3),
            }
        )
    return results


def fill_mask(bert: Loaded, *, text: str, top_k: int = 5) -> dict:
    return fill_mask_batch(bert, [text], top_k=top_k)[0]
