"""BERT fill-mask: the top-k words for each [MASK], with probabilities.

Predictions equal ``transformers.pipeline("fill-mask", top_k=k)`` on the same model:
softmax over the vocabulary at each mask position, top-k, the token decoded alone, and
the sentence decoded with that token in place (special tokens kept when there are
several masks, so the other [MASK]s stay visible), exactly as the pipeline builds them.

The work comes in three steps, so the worker's batcher (``inference/worker/batching.py``) can
run the middle one for many requests at once while each caller does its own checks and
formatting:

1. :func:`prepare` (per request): checks the text and its token count, raising
   :class:`DemoInputError` for that request only;
2. :func:`forward` (per batch): one right-padded forward pass; the vocabulary head runs
   only at the [MASK] positions (not at every token and padding position), then softmax
   and each request's own top-k;
3. :func:`finish` (per request): decode the predictions into the result dict.

:func:`fill_mask_batch` and :func:`fill_mask` chain the three steps directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inference.contract.validation import MASK, DemoInputError
from inference.worker.engine.common import Stopwatch, check_token_count, model_card

if TYPE_CHECKING:
    from inference.worker.loading import Loaded

NO_MASK_MESSAGE = (
    "Put [MASK] where BERT should guess a word, for example “The cat sat on the [MASK].”"
)


@dataclass(frozen=True)
class FillMaskItem:
    """One checked request: the learner's text, the model's text and its token count."""

    text: str
    model_text: str
    top_k: int
    length: int


@dataclass
class FillMaskRow:
    """The forward pass's output for one request."""

    ids: Any  # 1-D tensor of the request's token ids (padding removed)
    mask_positions: list[int]
    values: list[list[float]]  # per mask: the top-k probabilities
    predictions: list[list[int]]  # per mask: the top-k token ids


def prepare(bert: Loaded, text: str, *, top_k: int) -> FillMaskItem:
    tokenizer = bert.tokenizer
    if tokenizer.mask_token is None:
        raise DemoInputError("This BERT model has no [MASK] token, so it can't fill in blanks.")
    model_text = text.replace(MASK, tokenizer.mask_token)
    if tokenizer.mask_token not in model_text:  # a special token: always its own id
        raise DemoInputError(NO_MASK_MESSAGE, field="text")
    length = check_token_count(bert, model_text, label="The sentence", field="text")
    return FillMaskItem(text=text, model_text=model_text, top_k=int(top_k), length=length)


def _mask_logits(model, encoded: dict, rows, cols):
    """Vocabulary logits at the (row, col) mask positions only, shape (masks, vocab).

    BERT's MLM head (``cls.predictions``: transform + decoder) works on each position
    independently, so running it on the mask positions alone gives the same numbers as
    the full model, without a 30k-wide projection at every other token. Other model
    classes fall back to the full forward pass.
    """
    base = getattr(model, "bert", None)
    head = getattr(getattr(model, "cls", None), "predictions", None)
    if base is not None and head is not None:
        hidden = base(**encoded).last_hidden_state
        return head(hidden[rows, cols])
    outputs = model(**encoded)
    logits = getattr(outputs, "prediction_logits", None)
    logits = outputs.logits if logits is None else logits
    return logits[rows, cols]


def forward(bert: Loaded, items: Sequence[FillMaskItem]) -> tuple[list[FillMaskRow], float]:
    """One padded forward pass for ``items``; returns their rows and the time it took (ms)."""
    import torch

    tokenizer = bert.tokenizer
    watch = Stopwatch()
    with watch.running(), torch.inference_mode():
        encoded = bert.tokenize(
            [item.model_text for item in items],
            padding=True,
            padding_side="right",
            return_tensors="pt",
        )
        input_ids = encoded["input_ids"]
        attention = encoded["attention_mask"].bool()
        is_mask = (input_ids == tokenizer.mask_token_id) & attention
        rows, cols = torch.nonzero(is_mask, as_tuple=True)
        encoded = {key: value.to(bert.device) for key, value in encoded.items()}
        logits = _mask_logits(bert.model, encoded, rows.to(bert.device), cols.to(bert.device))
        probs = logits.float().softmax(dim=-1).cpu()
        vocab = probs.shape[-1]
        out = []
        start = 0
        for index, item in enumerate(items):
            count = int(is_mask[index].sum())
            mask_probs = probs[start : start + count]
            start += count
            if count == 0:  # prepare() refuses these; a direct caller may not have used it
                raise DemoInputError(NO_MASK_MESSAGE, field="text")
            values, predictions = mask_probs.topk(max(1, min(item.top_k, vocab)))
            positions = cols[rows == index].tolist()
            out.append(
                FillMaskRow(
                    ids=input_ids[index][attention[index]],
                    mask_positions=positions,
                    values=values.tolist(),
                    predictions=predictions.tolist(),
                )
            )
    return out, watch.elapsed_ms


def finish(
    bert: Loaded, item: FillMaskItem, row: FillMaskRow, *, elapsed_ms: float, batch_size: int = 1
) -> dict:
    """The result dict of one request. ``elapsed_ms`` is the model call it ran in."""
    tokenizer = bert.tokenizer
    single_mask = len(row.mask_positions) == 1
    with bert.tokenizer_lock:
        masks = []
        for position, row_values, row_predictions in zip(
            row.mask_positions, row.values, row.predictions, strict=True
        ):
            candidates = []
            for score, token_id in zip(row_values, row_predictions, strict=True):
                filled = row.ids.clone()
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
        tokens = tokenizer.convert_ids_to_tokens(row.ids.tolist())
    return {
        "text": item.text,
        "tokens": tokens,
        "masks": masks,
        "model": model_card(bert),
        "elapsed_ms": round(elapsed_ms, 3),
        "batch_size": batch_size,
    }


def fill_mask_batch(bert: Loaded, texts: list[str], *, top_k: int | Sequence[int]) -> list[dict]:
    """Fill the masks of several sentences in one padded forward pass.

    ``top_k`` is one number for all, or one per text. Raises the first input error.
    """
    top_ks = [top_k] * len(texts) if isinstance(top_k, int) else list(top_k)
    items = [prepare(bert, text, top_k=k) for text, k in zip(texts, top_ks, strict=True)]
    rows, elapsed_ms = forward(bert, items)
    return [
        finish(bert, item, row, elapsed_ms=elapsed_ms, batch_size=len(items))
        for item, row in zip(items, rows, strict=True)
    ]


def fill_mask(bert: Loaded, *, text: str, top_k: int = 5) -> dict:
    return fill_mask_batch(bert, [text], top_k=top_k)[0]
