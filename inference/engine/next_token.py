"""GPT's distribution over the next token for a prompt.

Returns the top-k candidates at temperature 1 and, separately, the FULL logits vector
(float32 bytes) plus the strings of the 200 most likely tokens, which the task stores in
Redis under ``logits_key`` so the web can re-shape the distribution for any temperature,
top-k or top-p with numpy, without running the model again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inference.engine.common import Stopwatch, check_token_count, model_card
from inference.streams import LOGITS_PREFIX

if TYPE_CHECKING:
    from inference.loading import Loaded

VOCAB_TOP = 200


@dataclass
class NextTokenOutput:
    result: dict
    logits: bytes  # float32, little-endian, one per vocabulary entry
    vocab: list[list]  # [[token_id, token], ...] for the VOCAB_TOP most likely tokens


def logits_key(model_name: str, prompt: str) -> str:
    digest = hashlib.sha256(f"{model_name}\x00{prompt}".encode()).hexdigest()
    return LOGITS_PREFIX + digest


def next_token_batch(gpt: Loaded, prompts: list[str], *, top_k: int) -> list[NextTokenOutput]:
    """One right-padded forward pass; each prompt's logits are read at its last token."""
    import torch

    for prompt in prompts:
        check_token_count(gpt, prompt, label="The prompt", field="prompt")
    watch = Stopwatch()
    with watch.running(), torch.inference_mode():
        encoded = gpt.tokenize(prompts, padding=True, padding_side="right", return_tensors="pt")
        encoded = {key: value.to(gpt.device) for key, value in encoded.items()}
        logits = gpt.model(**encoded).logits.float()
        last = encoded["attention_mask"].sum(dim=1) - 1
        rows = logits[torch.arange(len(prompts), device=logits.device), last].cpu()
    per_prompt_ms = watch.elapsed_ms / max(1, len(prompts))

    with gpt.tokenizer_lock:
        return _outputs(gpt, prompts, rows, top_k=top_k, per_prompt_ms=per_prompt_ms)


def _outputs(gpt: Loaded, prompts, rows, *, top_k: int, per_prompt_ms: float):
    import numpy as np

    tokenizer = gpt.tokenizer
    outputs = []
    card = model_card(gpt)
    for prompt, row in zip(prompts, rows, strict=True):
        probs = row.softmax(dim=-1)
        k = max(1, min(int(top_k), row.shape[-1]))
        top_probs, top_ids = probs.topk(max(k, min(VOCAB_TOP, row.shape[-1])))
        top_ids_list = top_ids.tolist()
        candidates = [
            {
                "token": tokenizer.decode([token_id]),
                "token_id": int(token_id),
                "logit": round(float(row[token_id]), 6),
                "prob": round(float(prob), 6),
            }
            for prob, token_id in zip(top_probs[:k].tolist(), top_ids_list[:k], strict=True)
        ]
        vocab = [[int(token_id), tokenizer.decode([token_id])] for token_id in top_ids_list]
        key = logits_key(card["name"], prompt)
        outputs.append(
            NextTokenOutput(
                result={
                    "prompt": prompt,
                    "candidates": candidates,
                    "logits_key": key,
                    "vocab_size": int(row.shape[-1]),
                    "model": card,
                    "elapsed_ms": round(per_prompt_ms, 3),
                },
                logits=row.numpy().astype(np.dtype("<f4")).tobytes(),
                vocab=vocab,
            )
        )
    return outputs


def next_token(gpt: Loaded, *, prompt: str, top_k: int = 20) -> NextTokenOutput:
    return next_token_batch(gpt, [prompt], top_k=top_k)[0]
