"""BERT's masked-language-model corruption, as one small function.

Devlin et al. (2018), section 3.1: 15% of the token positions are chosen for prediction
(never [CLS], [SEP] or [PAD]); of the chosen ones 80% become [MASK], 10% a random token and
10% stay unchanged. The model must predict the original token at every chosen position.
"""

from __future__ import annotations

IGNORE_INDEX = -100  # what torch's cross_entropy skips


def mask_tokens(
    input_ids,
    *,
    special_mask,
    mask_token_id: int,
    random_token_ids: tuple[int, int],
    generator,
    mlm_probability: float = 0.15,
):
    """Return (corrupted input ids, labels) for a batch; the input tensor is not modified.

    `special_mask` is a bool tensor shaped like `input_ids`, true where a token must never be
    chosen (special tokens and padding). `random_token_ids` is the half-open id range random
    replacements are drawn from (the ordinary vocabulary, without special tokens).
    `labels` holds the original id at chosen positions and `IGNORE_INDEX` elsewhere.
    `generator` is a `torch.Generator`, so the same seed gives the same masks.
    """
    import torch

    shape = input_ids.shape
    probabilities = torch.full(shape, mlm_probability)
    probabilities.masked_fill_(special_mask, 0.0)
    chosen = torch.bernoulli(probabilities, generator=generator).bool()

    labels = input_ids.clone()
    labels[~chosen] = IGNORE_INDEX

    corrupted = input_ids.clone()
    draw = torch.rand(shape, generator=generator)
    to_mask = chosen & (draw < 0.8)
    to_random = chosen & (draw >= 0.8) & (draw < 0.9)
    corrupted[to_mask] = mask_token_id
    low, high = random_token_ids
    random_ids = torch.randint(low, high, shape, generator=generator, dtype=input_ids.dtype)
    corrupted[to_random] = random_ids[to_random]
    return corrupted, labels
