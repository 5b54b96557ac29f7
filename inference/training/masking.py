"""BERT's masked-language-model corruption, as one small function.

Devlin et al. (2018), section 3.1: 15% of the token positions are chosen for prediction
(never [CLS], [SEP] or [PAD]); of the chosen ones 80% become [MASK], 10% a random token and
10% stay unchanged. The model must predict the original token at every chosen position.

`mask_repeats_from`: when a chosen token occurs again in the same sequence and its id is at
least this (in bert-base-uncased's vocabulary, ids above the few hundred most common words
and pieces), its other occurrences are chosen too. The demo corpus talks about one word per
run of sentences ("A dog is a member of the genus Canis. The dog barked all night."), so
without this the cheapest answer for a blank is a word the context already shows, and the
model learnt exactly that ("Snow is white and grass is [MASK]." -> grass, white, snow).

`content_weight`: a token with an id of at least `content_from` (a content word, past the
~100 most common entries) is that many times as likely to be chosen as any other, with the
batch's expected share of chosen tokens kept at `mlm_probability`. About half the tokens of
everyday English are function words and punctuation ("the", "of", "."), cheap guesses that
teach little, while what learners ask the demo for is a content word ("The capital of France
is [MASK]."). Off in the recipe: in 400-step trials it fixed five fill-mask probes but cost two
points of held-out top-1, and choosing 30% of tokens gained nearly as much without that cost
(README, "The demo models").
"""

from __future__ import annotations

IGNORE_INDEX = -100  # what torch's cross_entropy skips
MAX_CHOSEN = 0.9  # no token is certain to be chosen, however heavily it is weighted


def mask_tokens(
    input_ids,
    *,
    special_mask,
    mask_token_id: int,
    random_token_ids: tuple[int, int],
    generator,
    mlm_probability: float = 0.15,
    mask_repeats_from: int | None = None,
    content_weight: float = 1.0,
    content_from: int | None = None,
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
    if content_weight != 1.0 and content_from is not None:
        weights = torch.where(input_ids >= content_from, content_weight, 1.0)
        weights = weights.masked_fill(special_mask, 0.0)
        ordinary = (~special_mask).sum().clamp(min=1)
        probabilities = (
            mlm_probability * weights * ordinary / weights.sum().clamp(min=1e-6)
        ).clamp(max=MAX_CHOSEN)
    else:
        probabilities = torch.full(shape, mlm_probability)
        probabilities.masked_fill_(special_mask, 0.0)
    chosen = torch.bernoulli(probabilities, generator=generator).bool()
    if mask_repeats_from is not None:
        content = chosen & (input_ids >= mask_repeats_from)
        same = input_ids.unsqueeze(-1) == input_ids.unsqueeze(-2)  # [..., position, other]
        repeats = (same & content.unsqueeze(-2)).any(dim=-1)
        chosen |= repeats & ~special_mask

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
