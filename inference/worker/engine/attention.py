"""Attention weights of every layer and head, for BERT and for GPT, on the same text.

Equal to the model's ``output_attentions=True`` (models are loaded with the eager
attention implementation, which returns them), rounded to 4 decimals. BERT attends in
both directions; GPT's causal mask means a token never attends to later tokens, so the
upper triangle of every GPT matrix is exactly 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference.worker.engine.common import Stopwatch, check_token_count, model_card
from inference.worker.engine.tokenize import display_token

if TYPE_CHECKING:
    from inference.worker.loading import Loaded

DIGITS = 4


def _attend(loaded: Loaded, text: str, *, causal: bool) -> dict:
    import torch

    encoded = loaded.tokenize(text, return_tensors="pt")
    encoded = {key: value.to(loaded.device) for key, value in encoded.items()}
    with torch.inference_mode():
        outputs = loaded.model(**encoded, output_attentions=True)
    # (layers, heads, n, n) for the single sentence
    stacked = torch.stack([layer[0] for layer in outputs.attentions]).float().cpu()
    if causal:
        n = stacked.shape[-1]
        stacked = stacked * torch.tril(torch.ones(n, n))  # exact zeros above the diagonal
    ids = encoded["input_ids"][0].tolist()
    tokenizer = loaded.tokenizer
    with loaded.tokenizer_lock:
        tokens = (
            [display_token(tokenizer, i) for i in ids]
            if causal
            else tokenizer.convert_ids_to_tokens(ids)
        )
    return {
        "tokens": tokens,
        "layers": int(stacked.shape[0]),
        "heads": int(stacked.shape[1]),
        "attentions": torch.round(stacked.double(), decimals=DIGITS).tolist(),
    }


def attention(bert: Loaded, gpt: Loaded, *, text: str) -> dict:
    for loaded in (bert, gpt):
        check_token_count(
            loaded, text, limit_name="attention_max_tokens", label="The sentence", field="text"
        )
    watch = Stopwatch()
    with watch.running():
        bert_side = _attend(bert, text, causal=False)
        gpt_side = _attend(gpt, text, causal=True)
    return {
        "text": text,
        "bert": bert_side,
        "gpt": gpt_side,
        "models": {"bert": model_card(bert), "gpt": model_card(gpt)},
        "elapsed_ms": round(watch.elapsed_ms, 3),
    }
