"""Training examples: sentence pairs for BERT (MLM + NSP) and packed text blocks for GPT.

Both samplers are driven by an explicit `numpy.random.Generator` or by the step number, so a
resumed build draws exactly the examples it would have drawn without the interruption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpecialIds:
    cls: int
    sep: int
    pad: int


class SentencePairs:
    """BERT pre-training pairs: `[CLS] A [SEP] B [SEP]`, B the real continuation half the time.

    Follows the original BERT data recipe: segment A is one or more consecutive sentences of a
    document; B is either what follows A in the same document (is_next) or a run of sentences
    from another document (not next). Most pairs are cut to `typical_length` tokens (short
    sequences mean more optimizer steps per minute, and the site's demo inputs are short);
    10% may use the full `max_length`, so every position embedding gets trained, and 10% get
    a random shorter target, as in BERT. Only documents of two or more
    sentences can give a real pair, so only those are used. A random B never starts at a
    document's first sentence (real continuations never do either), so NSP can't be solved by
    spotting "summary line" style alone.
    """

    def __init__(
        self,
        documents: list[list[list[int]]],
        *,
        max_length: int,
        special: SpecialIds,
        typical_length: int | None = None,
        kinds: list[tuple[int, ...]] | None = None,
        weights: list[float] | None = None,
        shared_word_negatives: float = 0.0,
        content_from: int = 0,
    ):
        keep = [i for i, doc in enumerate(documents) if len(doc) >= 2]
        self.docs = [documents[i] for i in keep]
        if len(self.docs) < 2:
            raise ValueError("need at least two documents of two or more sentences")
        factor = np.array([weights[i] for i in keep]) if weights else np.ones(len(keep))
        # sentence kinds per document (optional): a random B then starts with a sentence of
        # the same kind as the real continuation would have
        self.kinds = [tuple(kinds[i]) for i in keep] if kinds else None
        # a document is picked by its number of sentence boundaries times its weight
        chances = np.array([len(doc) - 1 for doc in self.docs], dtype=np.float64) * factor
        self.cumulative = np.cumsum(chances / chances.sum())
        self.max_tokens = max_length - 3
        self.typical_tokens = min(typical_length or max_length, max_length) - 3
        self.max_length = max_length
        self.special = special
        # The share of random continuations drawn from sentences that hold a content word
        # of A (token ids from `content_from` on). In WordNet's runs a real continuation
        # repeats its head word three times in four, a random one one time in ten, so plain
        # pairs can be told apart by "shares a word" alone; the evaluation also measures
        # pairs where that tells nothing (``evaluate.heldout_metrics``).
        self.shared_word_negatives = shared_word_negatives
        self.content_from = content_from
        self._by_token = self._index_words() if shared_word_negatives > 0 else {}

    def _index_words(self) -> dict[int, np.ndarray]:
        """Content token id -> the (document, sentence) places that hold it, sentence >= 1
        (a random B never starts a document), packed as document * 4096 + sentence."""
        found: dict[int, list[int]] = {}
        for d, doc in enumerate(self.docs):
            for i, sentence in enumerate(doc[1:4096], start=1):
                for token in set(sentence):
                    if token >= self.content_from:
                        found.setdefault(token, []).append(d * 4096 + i)
        return {token: np.array(places, dtype=np.int64) for token, places in found.items()}

    def _shared_word_start(self, rng, a: list[int], doc_index: int, kind: int | None):
        """A (document, sentence) of another document whose sentence holds a word of A and
        is of `kind`; None after a few misses (the caller then draws as usual)."""
        words = sorted(t for t in set(a) if t >= self.content_from and t in self._by_token)
        if not words:
            return None
        for _ in range(8):
            places = self._by_token[words[int(rng.integers(0, len(words)))]]
            other, first = divmod(int(places[int(rng.integers(0, len(places)))]), 4096)
            if other == doc_index:
                continue
            if kind is not None and self.kinds is not None and self.kinds[other][first] != kind:
                continue
            return other, first
        return None

    def shares_word(self, a: list[int], b: list[int]) -> bool:
        """Whether B holds a content word of A (token ids from `content_from` on)."""
        return bool({t for t in a if t >= self.content_from} & set(b))

    def _pick_doc(self, rng: np.random.Generator, exclude: int | None = None) -> int:
        while True:
            index = int(np.searchsorted(self.cumulative, rng.random(), side="right"))
            index = min(index, len(self.docs) - 1)
            if index != exclude:
                return index

    def pair(self, rng: np.random.Generator) -> tuple[list[int], list[int], int]:
        """(segment A ids, segment B ids, label) where label 0 = is next, 1 = random."""
        limit = self.max_tokens if rng.random() < 0.1 else self.typical_tokens
        target = limit
        if rng.random() < 0.1:
            target = int(rng.integers(min(8, limit), limit + 1))
        doc_index = self._pick_doc(rng)
        doc = self.docs[doc_index]
        start = int(rng.integers(0, len(doc) - 1))
        chunk = [doc[start], doc[start + 1]]
        length = len(doc[start]) + len(doc[start + 1])
        position = start + 2
        while length < target and position < len(doc):
            chunk.append(doc[position])
            length += len(doc[position])
            position += 1
        a_end = int(rng.integers(1, len(chunk)))
        a = [tok for sentence in chunk[:a_end] for tok in sentence]
        if rng.random() < 0.5:
            label = 1
            # As many sentences as the real continuation has, so that B's length says
            # nothing about the label (our documents are short; unchecked, random Bs would
            # be the long ones).
            kind = self.kinds[doc_index][start + a_end] if self.kinds is not None else None
            shared = None
            if self.shared_word_negatives and rng.random() < self.shared_word_negatives:
                shared = self._shared_word_start(rng, a, doc_index, kind)
            if shared is not None:
                other_index, first = shared
            else:
                other_index = self._pick_doc(rng, exclude=doc_index)
                first = int(rng.integers(1, len(self.docs[other_index])))
                if kind is not None:
                    other_index, first = self._same_kind(rng, kind, doc_index, other_index, first)
            other = self.docs[other_index]
            b = [tok for sentence in other[first : first + len(chunk) - a_end] for tok in sentence]
        else:
            label = 0
            b = [tok for sentence in chunk[a_end:] for tok in sentence]
        while len(a) + len(b) > limit:
            if len(a) > len(b):
                a.pop(0)  # keep the end of A, next to the boundary
            else:
                b.pop()  # keep the start of B
        return a, b, label

    def _same_kind(self, rng, kind: int, doc_index: int, other: int, first: int):
        """A (document, sentence) start of `kind` in another document (a few tries)."""
        for _ in range(8):
            starts = [i for i, k in enumerate(self.kinds[other]) if i >= 1 and k == kind]
            if starts:
                return other, starts[int(rng.integers(0, len(starts)))]
            other = self._pick_doc(rng, exclude=doc_index)
        return other, int(rng.integers(1, len(self.docs[other])))

    def batch(self, rng: np.random.Generator, size: int) -> dict:
        """Padded tensors for `size` pairs (padded to the longest pair in the batch)."""
        pairs = [self.pair(rng) for _ in range(size)]
        return self.collate(pairs)

    def collate(self, pairs: list[tuple[list[int], list[int], int]]) -> dict:
        import torch

        sp = self.special
        width = max(len(a) + len(b) + 3 for a, b, _ in pairs)
        ids = torch.full((len(pairs), width), sp.pad, dtype=torch.long)
        types = torch.zeros((len(pairs), width), dtype=torch.long)
        attention = torch.zeros((len(pairs), width), dtype=torch.long)
        special = torch.ones((len(pairs), width), dtype=torch.bool)
        for row, (a, b, _label) in enumerate(pairs):
            seq = [sp.cls, *a, sp.sep, *b, sp.sep]
            n = len(seq)
            ids[row, :n] = torch.tensor(seq)
            types[row, len(a) + 2 : n] = 1
            attention[row, :n] = 1
            special[row, 1 : len(a) + 1] = False
            special[row, len(a) + 2 : n - 1] = False
        labels = torch.tensor([label for _, _, label in pairs], dtype=torch.long)
        return {
            "input_ids": ids,
            "token_type_ids": types,
            "attention_mask": attention,
            "special_mask": special,
            "next_sentence_label": labels,
        }


class PairBatches:
    """Length-bucketed batches of `SentencePairs`, resumable from a saved state.

    Pairs for `pool` steps are drawn at once, sorted by length and cut into batches (served in
    a shuffled order), so a batch pads to similar lengths instead of the longest of 64 random
    pairs: about half the compute of a padded random batch on this corpus of short documents.
    The state to save is the sampler's RNG state at the start of the current pool; restoring
    it regenerates the same pool, so a resumed build sees exactly the same batches.
    """

    def __init__(self, pairs: SentencePairs, *, batch_size: int, seed: int, pool: int = 8):
        self.pairs = pairs
        self.batch_size = batch_size
        self.pool = pool
        self.rng = np.random.default_rng(seed)
        self._pool_start_state = self.rng.bit_generator.state
        self._pool_id: int | None = None
        self._replay: int | None = None
        self._batches: list[list] = []

    def state(self) -> dict:
        return {"pool_start": self._pool_start_state, "pool_id": self._pool_id}

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state["pool_start"]
        self._pool_start_state = state["pool_start"]
        self._pool_id = None
        self._replay = state["pool_id"]

    def batch(self, step: int) -> dict:
        pool_id = step // self.pool
        if pool_id != self._pool_id:
            if self._replay is not None and self._replay != pool_id:
                self._draw_pool()  # replay the saved pool to reach the RNG state after it
            self._replay = None
            self._pool_start_state = self.rng.bit_generator.state
            self._draw_pool()
            self._pool_id = pool_id
        return self.pairs.collate(self._batches[step % self.pool])

    def _draw_pool(self) -> None:
        pairs = [self.pairs.pair(self.rng) for _ in range(self.batch_size * self.pool)]
        pairs.sort(key=lambda p: len(p[0]) + len(p[1]))
        batches = [pairs[i : i + self.batch_size] for i in range(0, len(pairs), self.batch_size)]
        order = self.rng.permutation(len(batches))
        self._batches = [batches[i] for i in order]


class TextBlocks:
    """GPT training blocks: all documents joined with the end-of-text token, cut into blocks.

    With `bos_id` every block starts with that token ([CLS] for the demo GPT, whose prompts
    always start with it) followed by `block_size - 1` tokens of text. Batches walk through
    a fresh permutation of the blocks each epoch; which blocks a step gets depends only on
    (seed, step), so resuming needs nothing but the step number.
    """

    def __init__(
        self,
        documents: list[list[int]],
        *,
        block_size: int,
        eos_id: int,
        seed: int,
        bos_id: int | None = None,
    ):
        stream = np.fromiter(
            (tok for doc in documents for tok in [*doc, eos_id]),
            dtype=np.int64,
        )
        body = block_size - (1 if bos_id is not None else 0)
        n_blocks = len(stream) // body
        if n_blocks < 1:
            raise ValueError("not enough text for one block")
        self.blocks = stream[: n_blocks * body].reshape(n_blocks, body)
        if bos_id is not None:
            starts = np.full((n_blocks, 1), bos_id, dtype=np.int64)
            self.blocks = np.concatenate([starts, self.blocks], axis=1)
        self.seed = seed
        self.bos_id = bos_id
        self._perms: dict[int, np.ndarray] = {}

    @property
    def tokens(self) -> int:
        return int(self.blocks.size)

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {k: v for k, v in self._perms.items() if k >= epoch - 1}
            rng = np.random.default_rng([self.seed, epoch])
            self._perms[epoch] = rng.permutation(len(self.blocks))
        return self._perms[epoch]

    def batch(self, step: int, size: int):
        import torch

        n = len(self.blocks)
        rows = []
        for j in range(size):
            g = step * size + j
            rows.append(self._perm(g // n)[g % n])
        return torch.from_numpy(self.blocks[rows])

    def epochs(self, steps: int, size: int) -> float:
        return steps * size / len(self.blocks)
