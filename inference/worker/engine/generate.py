"""GPT generation, one token at a time, with a KV cache and a callback per token.

The loop feeds the prompt once, then only the newest token with the KV cache (``cache``,
formerly ``past_key_values``; ``use_cache=True``), so each step costs one position.
After every step it calls ``on_token(event)`` with the token event of the inference
contract, which the Celery task publishes to the demo's Redis stream at once.

Decoding:
- greedy (``do_sample=False``): argmax of the logits; the ids equal
  ``model.generate(do_sample=False, max_new_tokens=n)`` (tested);
- sampling: logits / temperature, then top-k, then top-p (nucleus: the smallest set of
  tokens whose probabilities add up to at least ``top_p``), then a draw from a
  ``torch.Generator`` seeded for this request only (the global RNG is never touched, so
  concurrent requests in the worker's threads can't disturb each other's draws). The
  same seed gives the same text.

``prob`` and ``alternatives`` in a token event describe the distribution the token was
actually chosen from: plain softmax for greedy, the filtered, renormalised distribution
when sampling (tokens cut by top-k/top-p have probability 0 and are not listed).
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from inference.worker.engine.common import Stopwatch, check_token_count, model_card
from inference.worker.engine.tokenize import display_token

if TYPE_CHECKING:
    from inference.worker.loading import Loaded

ALTERNATIVES = 5
REPLACEMENT_CHAR = "\ufffd"


def filter_logits(logits, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    """Temperature, then top-k, then top-p on a 1-D logits tensor (filtered = -inf)."""
    import torch

    scores = logits / max(float(temperature), 1e-6)
    vocab = scores.shape[-1]
    if top_k and 0 < top_k < vocab:
        threshold = torch.topk(scores, top_k).values[-1]
        scores = scores.masked_fill(scores < threshold, float("-inf"))
    if top_p < 1.0:
        sorted_scores, sorted_ids = torch.sort(scores, descending=True)
        probs = sorted_scores.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p.
        remove = (probs.cumsum(dim=-1) - probs) >= top_p
        remove[0] = False  # always keep the most likely token
        scores = scores.clone()
        scores[sorted_ids[remove]] = float("-inf")
    return scores


class IncrementalDecoder:
    """Turn generated ids into text pieces, one per token, that add up to the decoded text.

    Decodes everything so far and returns the new suffix. A character split over several
    byte-level tokens (an emoji is 4 bytes) decodes as U+FFFD until its last byte
    arrives, so a trailing U+FFFD is held back for up to 3 tokens (the longest wait a
    valid UTF-8 character needs) and then shown whole; bytes that never form a character
    (a random model can produce those) are released as U+FFFD after that.
    """

    MAX_HOLD = 3

    def __init__(self, tokenizer, context: list[int] | None = None) -> None:
        # `context`: the prompt's last token, decoded with the new ones so that the first
        # piece gets the space a WordPiece decode puts only *between* tokens ("my family"
        # + "was" -> " was"); byte-level tokens carry their own space either way.
        self.tokenizer = tokenizer
        self.ids: list[int] = list(context or [])
        self.emitted = tokenizer.decode(self.ids, skip_special_tokens=True) if self.ids else ""
        self.held = 0

    def push(self, token_id: int, *, last: bool = False) -> str:
        self.ids.append(int(token_id))
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith(REPLACEMENT_CHAR) and self.held < self.MAX_HOLD and not last:
            self.held += 1
            return ""
        return self._release(text)

    def flush(self) -> str:
        """Whatever is still held back (called when generation stops early)."""
        return self._release(self.tokenizer.decode(self.ids, skip_special_tokens=True))

    def _release(self, text: str) -> str:
        self.held = 0
        piece = text[len(self.emitted) :] if text.startswith(self.emitted) else text
        self.emitted = text
        return piece


def _token_text(tokenizer, token_id: int) -> str:
    return tokenizer.decode([token_id])


def generate(
    gpt: Loaded,
    *,
    prompt: str,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    on_token: Callable[[dict], None] | None = None,
) -> dict:
    import torch

    check_token_count(gpt, prompt, label="The prompt", field="prompt")
    tokenizer, model = gpt.tokenizer, gpt.model
    settings_used = {
        "max_new_tokens": int(max_new_tokens),
        "do_sample": bool(do_sample),
        "temperature": float(temperature) if do_sample else 1.0,
        "top_k": int(top_k) if do_sample else 0,
        "top_p": float(top_p) if do_sample else 1.0,
        "seed": seed if do_sample else None,
    }
    if do_sample and seed is None:
        seed = secrets.randbelow(2**32)
        settings_used["seed_used"] = seed

    encoded = gpt.tokenize(prompt, return_tensors="pt")
    input_ids = encoded["input_ids"].to(gpt.device)
    prompt_len = input_ids.shape[1]
    max_positions = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", 1024
    )
    budget = max(0, min(int(max_new_tokens), max_positions - prompt_len))
    eos_ids = _eos_ids(model, tokenizer)

    generator = None
    if do_sample:
        generator = torch.Generator(device=gpt.device)
        generator.manual_seed(int(seed))

    cache_arg = _cache_argument(model)
    watch = Stopwatch()
    new_ids: list[int] = []
    events: list[dict] = []
    prompt_ids = [int(i) for i in input_ids[0].tolist() if int(i) not in tokenizer.all_special_ids]
    decoder = IncrementalDecoder(tokenizer, context=prompt_ids[-1:])
    finish_reason = "length"
    attention_mask = torch.ones_like(input_ids)
    past = None
    step_input = input_ids
    for index in range(budget):
        with watch.running(), torch.inference_mode():
            outputs = model(
                input_ids=step_input,
                attention_mask=attention_mask,
                use_cache=True,
                **{cache_arg: past},
            )
            past = _returned_cache(outputs, cache_arg)
            logits = outputs.logits[0, -1, :].float()
            if do_sample:
                scores = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)
                probs = scores.softmax(dim=-1)
                token_id = int(torch.multinomial(probs, 1, generator=generator).item())
            else:
                probs = logits.softmax(dim=-1)
                token_id = int(torch.argmax(logits).item())
            top_probs, top_ids = probs.topk(min(ALTERNATIVES, probs.shape[-1]))
            chosen_prob = float(probs[token_id].item())
            top_probs, top_ids = top_probs.tolist(), top_ids.tolist()

        new_ids.append(token_id)
        is_eos = token_id in eos_ids
        with gpt.tokenizer_lock:
            event = _token_event(
                tokenizer,
                decoder,
                index=index,
                token_id=token_id,
                is_eos=is_eos,
                last=index + 1 >= budget,
                chosen_prob=chosen_prob,
                top_probs=top_probs,
                top_ids=top_ids,
            )
        events.append(event)
        if on_token is not None:
            on_token(event)
        if is_eos:
            finish_reason = "eos"
            break
        step_input = torch.tensor([[token_id]], device=gpt.device)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((1, 1))], dim=1)

    with gpt.tokenizer_lock:
        text = tokenizer.decode(new_ids, skip_special_tokens=True)
    return {
        "prompt": prompt,
        "text": text,
        "token_ids": new_ids,
        "tokens": events,
        "finish_reason": finish_reason,
        "settings": settings_used,
        "prompt_tokens": int(prompt_len),
        "model": model_card(gpt),
        "elapsed_ms": round(watch.elapsed_ms, 3),
    }


def _token_event(
    tokenizer,
    decoder: IncrementalDecoder,
    *,
    index: int,
    token_id: int,
    is_eos: bool,
    last: bool,
    chosen_prob: float,
    top_probs: list[float],
    top_ids: list[int],
) -> dict:
    piece = decoder.flush() if is_eos else decoder.push(token_id, last=last)
    event = {
        "type": "token",
        "index": index,
        "token": piece,
        "token_id": token_id,
        "raw": display_token(tokenizer, token_id),
        "prob": round(chosen_prob, 6),
        "alternatives": [
            {
                "token": _token_text(tokenizer, alt_id),
                "token_id": int(alt_id),
                "prob": round(float(alt_prob), 6),
            }
            for alt_prob, alt_id in zip(top_probs, top_ids, strict=True)
            if alt_prob > 0
        ],
    }
    if is_eos:
        event["eos"] = True
    return event


def _cache_argument(model) -> str:
    """The KV-cache keyword of ``model.forward``: ``cache`` (transformers >= 5.2x) or the
    older ``past_key_values``."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _returned_cache(outputs, cache_arg: str):
    cache = outputs.get(cache_arg) if hasattr(outputs, "get") else None
    if cache is None:
        cache = getattr(outputs, "past_key_values", None) or getattr(outputs, "cache", None)
    return cache


def _eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    if not ids and tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
