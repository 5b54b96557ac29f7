"""Running prose out of Markdown and reStructuredText: paragraphs, sentences, filters.

The corpus takes the course's own lesson text through these functions: code blocks, tables,
headings, demo blocks and lists of arguments are dropped whole, inline markup is stripped,
and only sentences that look like ordinary English survive.
"""

from __future__ import annotations

import re

_UNDERLINE = re.compile(r"^\s*([=\-~^*#\"+`'.:_])\1{2,}\s*$")
_BULLET = re.compile(r"^([-*+\u2022]|\d{1,2}[.)]|[a-z][.)])\s+(\S.*)$")
_STRUCTURED_START = re.compile(r"^(>>>|\.\.\.|\.\. |:\w|\||\$ |#|%|@|\{|\}|\[\d|<|>|\w+\s*=)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_URL = re.compile(r"(https?://|www\.|\w@\w|\.com\b|\.org\b|\.io\b|\.html?\b)", re.I)
_ROLE = re.compile(r":[\w:+.-]+:`~?!?([^`<]*?)(?:\s*<[^`>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")
_BACKTICK = re.compile(r"`([^`]+)`_{0,2}")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPH = re.compile(r"(\*{1,2}|_{2})(\S(?:.*?\S)?)\1")
_HYPHEN_BREAK = re.compile(r"([a-z])- ([a-z])")
_RST_REF = re.compile(r"\b([A-Za-z]\w*?)_(?=[\s.,;:)]|$)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_CODEISH = re.compile(r"[_(){}\[\]=<>|\\/#@$%^~*]|\w\.\w|->|::")
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(]?[A-Z])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Mrs.", "Dr.", "No.", "approx.")
_FUNCTION_WORDS = frozenset(
    {
        *("the", "a", "an", "is", "are", "was", "be", "been", "of", "to", "in", "on", "for"),
        *("and", "or", "that", "this", "it", "with", "as", "by", "from", "not", "if", "when"),
        *("which", "can", "will", "may", "should", "must", "has", "have"),
    }
)
_BOILERPLATE = re.compile(
    r"(copyright|licen[cs]e|warrant|liabilit|all rights reserved|redistribut|"
    r"provided \"?as is|permission is hereby|merchantab|deprecated since|todo\b|xxx\b)",
    re.I,
)


def prose_paragraphs(text: str) -> list[str]:
    """Paragraphs of running prose in a docstring/README, each joined onto one line.

    Anything with structure is dropped whole: indented blocks (code, argument descriptions),
    headings (underlined or ``#``), doctest and directive lines, tables, fenced code.
    Bullet items count as paragraphs of their own.
    """
    paragraphs: list[str] = []
    current: list[str] = []
    bad = False
    bullet_indent = 0
    in_fence = False

    def flush() -> None:
        nonlocal current, bad, bullet_indent
        if current and not bad:
            joined = " ".join(part.strip() for part in current)
            paragraphs.append(_HYPHEN_BREAK.sub(r"\1-\2", joined))
        current, bad, bullet_indent = [], False, 0

    for raw in text.expandtabs(4).splitlines():
        if _FENCE.match(raw):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = raw.rstrip()
        if not line.strip():
            flush()
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if _UNDERLINE.match(line):
            bad = True  # the heading above it is dropped with it
            continue
        bullet = _BULLET.match(stripped) if indent == 0 else None
        if bullet:
            flush()
            current = [bullet.group(2)]
            bullet_indent = len(stripped) - len(bullet.group(2))
            continue
        if indent:
            if current and bullet_indent and indent <= bullet_indent + 1:
                current.append(stripped)  # continuation of a bullet item
            else:
                bad = True
            continue
        if bullet_indent:  # an unindented line after a bullet item starts a new paragraph
            flush()
        if _STRUCTURED_START.match(stripped):
            bad = True
        current.append(stripped)
    flush()
    return paragraphs


def clean_markup(text: str) -> str:
    """Strip reStructuredText/Markdown inline markup, keeping the words."""
    text = _ROLE.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _BACKTICK.sub(r"\1", text)
    text = _EMPH.sub(r"\2", text)
    text = _RST_REF.sub(r"\1", text)
    text = text.replace("::", ":").replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2014", " - ")
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(paragraph: str) -> list[str]:
    protected = paragraph
    for i, abbr in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbr, f"\x00{i}\x00")
    parts = _SPLIT.split(protected)
    out = []
    for part in parts:
        for i, abbr in enumerate(_ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbr)
        if part.strip():
            out.append(part.strip())
    return out


def is_prose_sentence(sentence: str) -> bool:
    """True for a sentence of ordinary English (not code, not a URL, not boilerplate)."""
    if not 20 <= len(sentence) <= 320:
        return False
    if not (sentence[0].isupper() or sentence[0] in "\"'") or sentence[-1] not in ".!?":
        return False
    if sentence.endswith("...") or _URL.search(sentence) or _BOILERPLATE.search(sentence):
        return False
    non_ascii = sum(1 for ch in sentence if ord(ch) > 127)
    if non_ascii > 1:
        return False
    tokens = sentence.split()
    if not 4 <= len(tokens) <= 60:
        return False
    codeish = sum(1 for tok in tokens if _CODEISH.search(tok.rstrip(".,;:!?")))
    if codeish / len(tokens) > 0.1:
        return False
    words = [tok.strip("\"'(),.;:!?") for tok in tokens]
    plain = sum(1 for w in words if w and _WORD.fullmatch(w) and (w.islower() or w.istitle()))
    if plain / len(tokens) < 0.85:
        return False
    digits = sum(ch.isdigit() for ch in sentence)
    if digits > 6:
        return False
    lowered = {w.lower() for w in words}
    return bool(lowered & _FUNCTION_WORDS)


def is_ascii(text: str) -> bool:
    return all(ord(ch) < 128 for ch in text)


def prose_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for paragraph in prose_paragraphs(text):
        for sentence in split_sentences(clean_markup(paragraph)):
            if is_prose_sentence(sentence):
                sentences.append(sentence)
    return sentences
