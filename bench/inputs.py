"""Distinct, realistic demo inputs (deterministic), so no request is answered from the
site's result cache unless a benchmark asks for that on purpose.

Sentences come from ``inference.worker.tiny.corpus_lines`` (simple English built from a word
list). The same lists feed the site and the in-process baseline.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator

from inference.worker import tiny


def _lines(seed: int) -> Iterator[str]:
    for round_ in itertools.count():
        lines = tiny.corpus_lines(count=600, seed=seed + round_)[:-1]  # drop the word list
        random.Random(seed + round_).shuffle(lines)
        yield from (line for line in lines if 5 <= len(line.split()) <= 24)


def fill_mask_inputs(seed: int = 101) -> Iterator[dict]:
    rng = random.Random(seed)
    seen: set[str] = set()
    for line in _lines(seed):
        words = line.split()
        position = rng.randrange(1, len(words))
        word = words[position]
        tail = "".join(ch for ch in word if not ch.isalpha())
        words[position] = "[MASK]" + tail
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            yield {"text": text, "top_k": 5}


def next_token_inputs(seed: int = 202) -> Iterator[dict]:
    rng = random.Random(seed)
    seen: set[str] = set()
    for line in _lines(seed):
        words = line.rstrip(".!?").split()
        prompt = " ".join(words[: rng.randrange(3, len(words) + 1)])
        if prompt not in seen:
            seen.add(prompt)
            yield {"prompt": prompt, "top_k": 20}


def generate_inputs(max_new_tokens: int, seed: int = 303) -> Iterator[dict]:
    for params in next_token_inputs(seed):
        yield {"prompt": params["prompt"], "max_new_tokens": max_new_tokens, "do_sample": False}


def embeddings_inputs(seed: int = 404) -> Iterator[dict]:
    rng = random.Random(seed)
    seen: set[tuple[str, str, str]] = set()
    nouns = list(dict.fromkeys(tiny._NOUNS))
    for index in itertools.count():
        word = nouns[index % len(nouns)]
        a = (
            f"The {rng.choice(tiny._ADJECTIVES)} {word} {rng.choice(tiny._VERBS)} "
            f"the {rng.choice(tiny._NOUNS)} {rng.choice(tiny._PLACES)}."
        )
        b = (
            f"{rng.choice(tiny._STARTS).capitalize()} {rng.choice(tiny._NOUNS)} "
            f"{rng.choice(tiny._VERBS)} a {rng.choice(tiny._ADJECTIVES)} {word}."
        )
        if (word, a, b) not in seen:
            seen.add((word, a, b))
            yield {"word": word, "sentence_a": a, "sentence_b": b}


GENERATORS = {
    "fill-mask": fill_mask_inputs,
    "next-token": next_token_inputs,
    "embeddings": embeddings_inputs,
}


class SharedInputs:
    """A thread-safe stream of fresh inputs for one demo kind (for concurrent clients)."""

    def __init__(self, kind: str, seed: int) -> None:
        self._iter = GENERATORS[kind](seed)
        self._lock = threading.Lock()

    def next(self) -> dict:
        with self._lock:
            return next(self._iter)
