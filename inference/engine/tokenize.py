"""Tokenize one text with BERT's WordPiece and GPT's byte-level BPE, side by side.

GPT tokens are shown the way learners can read them: the bytes of a byte-level token are
decoded, a leading space is drawn as ``␣``, a newline as ``↵`` and a tab as ``⇥``; a token
holding only part of a multi-byte character (an emoji split in two, say) is shown as
its bytes, e.g. ``⟨f0 9f⟩``. ``raw_tokens`` keeps the tokenizer's own strings ("Ġcat").
Offsets are character positions in the text ([start, end)); special tokens get [0, 0].
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from inference.engine.common import Stopwatch, check_token_count, model_card

if TYPE_CHECKING:
    from inference.loading import Loaded

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


def _side(loaded: Loaded, text: str, *, display: bool) -> dict:
    tokenizer = loaded.tokenizer
    with loaded.tokenizer_lock:
        encoded = loaded.tokenize(text, return_offsets_mapping=True)
        ids = [int(i) for i in encoded["input_ids"]]
        raw_tokens = tokenizer.convert_ids_to_tokens(ids)
        shown = [display_token(tokenizer, i) for i in ids] if display else raw_tokens
    side = {
        "tokens": shown,
        "ids": ids,
        "offsets": [[int(start), int(end)] for start, end in encoded["offset_mapping"]],
        "name": loaded.info["name"],
    }
    if display:
        side["raw_tokens"] = raw_tokens
    return side


def tokenize(bert: Loaded, gpt: Loaded, *, text: str) -> dict:
    check_token_count(bert, text, label="The text", field="text")
    check_token_count(gpt, text, label="The text", field="text")
    watch = Stopwatch()
    with watch.running():
        bert_side = _side(bert, text, display=False)
        gpt_side = _side(gpt, text, display=True)
    return {
        "text": text,
        "bert": bert_side,
        "gpt": gpt_side,
        "models": {"bert": model_card(bert), "gpt": model_card(gpt)},
        "elapsed_ms": round(watch.elapsed_ms, 3),
    }
