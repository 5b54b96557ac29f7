"""Tokenize one text with BERT's WordPiece and GPT's byte-level BPE, side by side.

GPT tokens are shown the way learners can read them: the bytes of a byte-level token are
decoded, a leading space is drawn as ``␣``, a newline as ``↵`` and a tab as ``⇥``; a token
holding only part of a multi-byte character (an emoji split in two, say) is shown as
its bytes, e.g. ``⟨f0 9f⟩``. ``raw_tokens`` keeps the tokenizer's own strings ("Ġcat").
Offsets are character positions in the text ([start, end)); special tokens get [0, 0].

Each side also says which tokenizer it is: ``scheme`` ("WordPiece", "byte-level BPE", ...)
and ``vocab_size``; the GPT side says whether it ``shares_bert_vocabulary``. When the loaded
GPT's tokenizer is not byte-level (the ``demo`` profile's GPT shares BERT's WordPiece) and
GPT-2's real tokenizer files are installed (:mod:`inference.worker.gpt2_tokenizer`), the result
gets a third side, ``gpt2``, shaped like the GPT side, so learners still see GPT-2's BPE.
"""

from __future__ import annotations

import functools
import weakref
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from inference.worker import gpt2_tokenizer
from inference.worker.engine.common import Stopwatch, check_token_count, model_card

if TYPE_CHECKING:
    from inference.worker.loading import Loaded

_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


@functools.cache
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: the printable stand-in for each byte."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def _is_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    return "ByteLevel" in type(backend.pre_tokenizer).__name__ or "ByteLevel" in str(
        backend.pre_tokenizer
    )


def display_token(tokenizer, token_id: int) -> str:
    """A token as learners should see it (see module docstring)."""
    raw = tokenizer.convert_ids_to_tokens(int(token_id))
    if raw is None:
        return ""
    if token_id in set(tokenizer.all_special_ids):
        return raw
    if _is_byte_level(tokenizer):
        decoder = _byte_decoder()
        if all(ch in decoder for ch in raw):
            data = bytes(decoder[ch] for ch in raw)
            try:
                return data.decode("utf-8").translate(_VISIBLE)
            except UnicodeDecodeError:
                return "⟨" + " ".join(f"{b:02x}" for b in data) + "⟩"
    return raw.translate(_VISIBLE)


def tokenizer_scheme(tokenizer) -> str:
    """Byte-level BPE, or else the name of the tokenizer's model: WordPiece, BPE, Unigram."""
    if _is_byte_level(tokenizer):
        return "byte-level BPE"
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return type(backend.model).__name__ if backend is not None else type(tokenizer).__name__


# A vocabulary's fingerprint per tokenizer object (get_vocab takes ~15 ms on 30k tokens).
_FINGERPRINTS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _vocabulary_fingerprint(loaded: Loaded) -> int:
    tokenizer = loaded.tokenizer
    fingerprint = _FINGERPRINTS.get(tokenizer)
    if fingerprint is None:
        with loaded.tokenizer_lock:
            vocab = tokenizer.get_vocab()
        fingerprint = hash(frozenset(vocab.items()))
        _FINGERPRINTS[tokenizer] = fingerprint
    return fingerprint


def _shares_vocabulary(bert: Loaded, gpt: Loaded) -> bool:
    if bert.tokenizer is gpt.tokenizer:
        return True
    if tokenizer_scheme(bert.tokenizer) != tokenizer_scheme(gpt.tokenizer):
        return False
    if len(bert.tokenizer) != len(gpt.tokenizer):
        return False
    return _vocabulary_fingerprint(bert) == _vocabulary_fingerprint(gpt)


def _encode(
    tokenizer, lock: AbstractContextManager, text: str, *, name: str, display: bool
) -> dict:
    with lock:
        encoded = tokenizer(text, return_offsets_mapping=True)
        ids = [int(i) for i in encoded["input_ids"]]
        raw_tokens = tokenizer.convert_ids_to_tokens(ids)
        shown = [display_token(tokenizer, i) for i in ids] if display else raw_tokens
        vocab_size = len(tokenizer)
    side = {
        "tokens": shown,
        "ids": ids,
        "offsets": [[int(start), int(end)] for start, end in encoded["offset_mapping"]],
        "name": name,
    }
    if display:
        side["raw_tokens"] = raw_tokens
    side["scheme"] = tokenizer_scheme(tokenizer)
    side["vocab_size"] = vocab_size
    return side


def _side(loaded: Loaded, text: str, *, display: bool) -> dict:
    return _encode(
        loaded.tokenizer, loaded.tokenizer_lock, text, name=loaded.info["name"], display=display
    )


def tokenize(bert: Loaded, gpt: Loaded, *, text: str) -> dict:
    check_token_count(bert, text, label="The text", field="text")
    check_token_count(gpt, text, label="The text", field="text")
    # GPT-2's real BPE, shown when the loaded GPT doesn't use byte-level BPE itself (loaded
    # once per process, outside the timing; None when its files aren't installed).
    gpt2 = None if _is_byte_level(gpt.tokenizer) else gpt2_tokenizer.load_gpt2_tokenizer()
    watch = Stopwatch()
    with watch.running():
        bert_side = _side(bert, text, display=False)
        gpt_side = _side(gpt, text, display=True)
        gpt_side["shares_bert_vocabulary"] = _shares_vocabulary(bert, gpt)
        gpt2_side = None
        if gpt2 is not None:
            gpt2_side = _encode(
                gpt2,
                gpt2_tokenizer.tokenizer_lock,
                text,
                name=gpt2_tokenizer.NAME,
                display=True,
            )
    result = {"text": text, "bert": bert_side, "gpt": gpt_side}
    if gpt2_side is not None:
        result["gpt2"] = gpt2_side
    result["models"] = {"bert": model_card(bert), "gpt": model_card(gpt)}
    result["elapsed_ms"] = round(watch.elapsed_ms, 3)
    return result
