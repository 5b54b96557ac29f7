"""Each demo kind's result, shaped for its template (pure functions, no Redis, no ORM).

Fill-mask: the sentence with every word clickable to mask it. Generation: tokens with the
candidates they were chosen over, and what "same seed, new temperature" resubmits.
Next token: the first bars. Tokenization: BERT's and GPT's tokens (and GPT-2's real tokenizer's,
when the result has them) aligned word by word.
Embeddings and next sentence: the bars of their scores.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from inference.contract.validation import MASK
from inference.web.charts import bar_width, signed_bar
from inference.web.reshape import Reshaped, Row

_WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]+|\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _control_picture(match: re.Match) -> str:
    code = ord(match.group())
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def printable(text: object) -> str:
    """Control characters a model may emit, as their visible Unicode pictures (␖)."""
    return _CONTROL_RE.sub(_control_picture, str(text))


# --- Fill-mask: the sentence as clickable words ---------------------------------------


def fill_mask_words(result: dict) -> list[dict[str, Any]]:
    """The sentence with each [MASK] filled by BERT's top guess, split into pieces.

    Every word piece carries ``masked``: the completed sentence with just that word
    replaced by [MASK] (what clicking it submits). Guesses are marked ``guess``.
    """
    text = str(result.get("text") or "")
    masks = result.get("masks") or []
    guesses = []
    for mask in masks:
        predictions = mask.get("predictions") or [{}]
        guesses.append(str(predictions[0].get("token", "")).strip())
    parts = text.split(MASK)
    pieces: list[tuple[str, bool]] = []
    for index, part in enumerate(parts):
        if part:
            pieces.append((part, False))
        if index < len(parts) - 1:
            guess = guesses[index] if index < len(guesses) and guesses[index] else MASK
            pieces.append((guess, True))
    completed = "".join(piece for piece, _ in pieces)
    words: list[dict[str, Any]] = []
    position = 0
    for piece, is_guess in pieces:
        chunks = [piece] if is_guess else _WORD_RE.findall(piece)
        for chunk in chunks:
            start, end = position, position + len(chunk)
            position = end
            clickable = bool(re.search(r"\w", chunk)) and chunk != MASK
            words.append(
                {
                    "text": chunk,
                    "guess": is_guess,
                    "space": chunk.isspace(),
                    "clickable": clickable,
                    "masked": completed[:start] + MASK + completed[end:] if clickable else "",
                }
            )
    return words


def fill_mask_view(result: dict) -> dict[str, Any]:
    masks = []
    for number, mask in enumerate(result.get("masks") or [], start=1):
        masks.append(
            {
                "number": number,
                "index": mask.get("index"),
                "predictions": [
                    {**p, "width": bar_width(p.get("score")), "rank": rank}
                    for rank, p in enumerate(mask.get("predictions") or [], start=1)
                ],
            }
        )
    return {"words": fill_mask_words(result), "masks": masks}


# --- Generation: tokens with their runners-up ---------------------------------------------


def generated_tokens(tokens: list[dict]) -> list[dict[str, Any]]:
    """Each generated token with its probability and the candidates it was chosen over."""
    views = []
    for token in sorted(tokens, key=lambda t: int(t.get("index", 0))):
        views.append(token_view(token))
    return views


def token_view(token: dict) -> dict[str, Any]:
    """One generated token for its tooltip and table row.

    ``alternatives`` are the top of the distribution the token was drawn from. A sampled
    token that isn't among them is ``outside`` the ``shown`` top: its rank is unknown (only
    that it is below them all), so the tooltip says "outside the top 5", never a made-up
    rank."""
    prob = float(token.get("prob") or 0.0)
    alternatives = token.get("alternatives") or []
    others = [
        {**alt, "width": bar_width(alt.get("prob"))}
        for alt in alternatives
        if alt.get("token_id") != token.get("token_id")
    ]
    listed = len(others) < len(alternatives)
    outside = (
        bool(alternatives)
        and not listed
        and all(prob <= float(alt.get("prob") or 0) for alt in alternatives)
    )
    rank = 1 + sum(1 for alt in others if float(alt.get("prob") or 0) > prob)
    return {
        "outside": outside,
        "shown": len(alternatives),
        "index": int(token.get("index", 0)),
        "number": int(token.get("index", 0)) + 1,
        "text": printable(token.get("token", "")),
        "raw": printable(token.get("raw") or token.get("token", "")),
        "token_id": token.get("token_id"),
        "prob": prob,
        "width": bar_width(prob),
        "rank": rank,
        "beat": [alt for alt in others if float(alt.get("prob") or 0) <= prob][:4],
        "above": [alt for alt in others if float(alt.get("prob") or 0) > prob][:4],
        "eos": bool(token.get("eos")),
    }


def compare_settings(result: dict, params: dict) -> dict[str, Any] | None:
    """What the "same seed, new temperature" form resubmits (None without a prompt)."""
    settings_used = result.get("settings") or {}
    prompt = result.get("prompt") or params.get("prompt")
    if not prompt:
        return None
    sampled = bool(settings_used.get("do_sample"))
    seed = settings_used.get("seed")
    if seed is None:
        seed = settings_used.get("seed_used")
    temperature = float(settings_used.get("temperature") or 1.0) if sampled else 1.0
    return {
        "prompt": prompt,
        "max_new_tokens": settings_used.get("max_new_tokens") or params.get("max_new_tokens"),
        "top_k": settings_used.get("top_k") or 0,
        "top_p": settings_used.get("top_p") if sampled else 1.0,
        "seed": 42 if seed is None else seed,
        "sampled": sampled,
        "temperature": temperature,
        "suggested": 1.5 if temperature < 1.2 else 0.5,
    }


# --- Next token: bars ------------------------------------------------------------------------


def initial_reshaped(result: dict) -> Reshaped:
    """The candidates as the bars a re-shape at temperature 1, no filtering, would draw."""
    rows = candidate_rows(result)
    vocab_size = int(result.get("vocab_size") or 0) or len(rows)
    return Reshaped(
        rows=rows,
        kept=vocab_size,
        vocab_size=vocab_size,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        entropy_bits=None,  # type: ignore[arg-type]  # unknown without the full logits
    )


def candidate_rows(result: dict) -> list[Row]:
    """The result's candidates as re-shape rows at temperature 1 (nothing filtered)."""
    return [
        Row(
            rank=rank,
            token_id=int(c.get("token_id", -1)),
            token=c.get("token"),
            prob=float(c.get("prob") or 0.0),
            base_prob=float(c.get("prob") or 0.0),
            kept=True,
        )
        for rank, c in enumerate(result.get("candidates") or [], start=1)
    ]


# --- Tokenization: WordPiece and BPE aligned word by word ----------------------------------


TOKEN_SIDES = (
    ("bert", "BERT", "BERT"),
    ("gpt", "GPT", "GPT"),
    ("gpt2", "GPT-2", gettext_lazy("GPT-2's tokenizer")),
)


def _tokenizer_about(role: str, side: dict) -> str:
    """What a side's tokenizer is, where that isn't the usual story (BERT: WordPiece, GPT:
    byte-level BPE): a GPT that doesn't use byte-level BPE, and GPT-2's real tokenizer."""
    scheme = str(side.get("scheme") or "")
    size = side.get("vocab_size")
    if scheme == "byte-level BPE":  # the one scheme name that isn't a proper name
        scheme = _("byte-level BPE")
    count = _("%(count)s tokens") % {"count": f"{size:,}"} if isinstance(size, int) else ""
    what = pgettext("between a tokenizer's name and its size", ", ").join(
        filter(None, [scheme, count])
    )
    if role == "gpt2":
        if what:
            return _("%(what)s; the real gpt2 files") % {"what": what}
        return _("the real gpt2 files")
    if role == "gpt" and scheme and side.get("scheme") != "byte-level BPE":
        if side.get("shares_bert_vocabulary"):
            return _("shares BERT's %(scheme)s") % {"scheme": scheme}
        return what
    return ""


def token_views(result: dict) -> list[dict[str, Any]]:
    """BERT's and GPT's tokens side by side, each with its id; GPT-2's real tokenizer third
    when the result has it (the loaded GPT's tokenizer isn't byte-level BPE)."""
    views = []
    for role, label, title in TOKEN_SIDES:
        view = result.get(role)
        if not isinstance(view, dict):
            continue
        tokens, ids = view.get("tokens") or [], view.get("ids") or []
        views.append(
            {
                "role": role,
                "label": label,
                "title": title,
                "about": _tokenizer_about(role, view),
                "name": view.get("name", ""),
                "pieces": [
                    {"token": printable(token), "id": ids[i] if i < len(ids) else None}
                    for i, token in enumerate(tokens)
                ],
            }
        )
    return views


def token_alignment(result: dict) -> list[dict[str, Any]]:
    """Columns of the text (one per word) with the BERT and GPT tokens that cover each (and
    GPT-2's, under ``gpt2``, when the result has that side).

    A token belongs to the word holding its first non-space character (GPT's tokens carry
    the space before a word); special tokens such as [CLS] and [SEP] get columns of their
    own at the start and end.
    """
    roles = [role for role, _, _ in TOKEN_SIDES]
    text = str(result.get("text") or "")
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    starts = [start for start, _ in spans]
    columns: list[dict[str, Any]] = [
        {"text": text[start:end], "special": False, **{role: [] for role in roles}}
        for start, end in spans
    ]
    lead = {"text": "", "special": True, **{role: [] for role in roles}}
    tail = {"text": "", "special": True, **{role: [] for role in roles}}
    for role in roles:
        side = result.get(role)
        if not isinstance(side, dict):
            continue
        tokens = side.get("tokens") or []
        offsets = side.get("offsets") or []
        ids = side.get("ids") or []
        seen_text = False
        for i, token in enumerate(tokens):
            piece = {"token": printable(token), "id": ids[i] if i < len(ids) else None}
            offset = offsets[i] if i < len(offsets) else None
            if not offset or offset[0] >= offset[1] or not columns:
                (tail if seen_text else lead)[role].append(piece)
                continue
            seen_text = True
            start, end = int(offset[0]), int(offset[1])
            anchor = next((k for k in range(start, end) if not text[k : k + 1].isspace()), start)
            column = bisect.bisect_right(starts, anchor) - 1
            if column < 0 or anchor >= spans[column][1]:
                column = min(column + 1, len(columns) - 1)
            columns[max(0, column)][role].append(piece)
    return [c for c in (lead, *columns, tail) if not c["special"] or any(c[role] for role in roles)]


# --- Embeddings and next sentence ----------------------------------------------------------


def highlight_word(sentence: str, word: str) -> dict[str, str]:
    """``{"before", "word", "after"}`` around the first whole-word match of ``word``."""
    match = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", sentence, flags=re.IGNORECASE)
    if not word or not match:
        return {"before": sentence, "word": "", "after": ""}
    return {
        "before": sentence[: match.start()],
        "word": match.group(),
        "after": sentence[match.end() :],
    }


def embeddings_view(result: dict) -> dict[str, Any]:
    word = str(result.get("word") or "")
    contextual = (result.get("contextual") or {}).get("similarity")
    sentence = (result.get("sentence") or {}).get("similarity")
    return {
        "a": highlight_word(str(result.get("sentence_a") or ""), word),
        "b": highlight_word(str(result.get("sentence_b") or ""), word),
        "contextual": {"value": contextual, "bar": signed_bar(contextual)},
        "sentence": {"value": sentence, "bar": signed_bar(sentence)},
        "pieces_a": (result.get("contextual") or {}).get("word_pieces") or [],
        "pieces_b": (result.get("contextual") or {}).get("word_pieces_b") or [],
    }


NSP_UNSURE_MARGIN = 0.1


def next_sentence_view(result: dict) -> dict[str, Any]:
    is_next = result.get("is_next")
    not_next = result.get("not_next")
    numbers = [float(v) for v in (is_next, not_next) if isinstance(v, int | float)]
    return {
        "top": max(numbers, default=1.0),  # the bars are scaled to the larger of the two
        "is_next": {"value": is_next, "width": bar_width(is_next)},
        "not_next": {"value": not_next, "width": bar_width(not_next)},
        "follows": is_next is not None and not_next is not None and is_next >= not_next,
        # between 40% and 60%: the verdict is no better than a coin flip, and the page says so
        "unsure": is_next is not None and abs(is_next - 0.5) < NSP_UNSURE_MARGIN,
    }
