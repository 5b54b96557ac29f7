"""The probe set (`probes.yaml`) and the pure checks that decide whether a probe passes.

No torch here: `inference/training/evaluate.py` runs the models and hands the outputs to
these checks, and the tests exercise the checks on plain strings and numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROBES_FILE = Path(__file__).resolve().parent / "probes.yaml"
TOP_K = 5
DEFAULT_NEW_TOKENS = 20  # what the generate demo's form starts with
MIN_WORDS = 10
MIN_DICTIONARY_SHARE = 0.9
REPEAT_WORDS = 3  # a phrase of this many words said twice is a loop

# The targets of issue #12, checked by `evaluate_demo_models` and shown on the training page.
TARGETS = {
    "fill_mask_pass_rate": 0.80,
    "mlm_top1_accuracy": 0.35,
    "nsp_accuracy": 0.80,
    "generate_pass_rate": 0.80,
}
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


@dataclass(frozen=True)
class FillMaskProbe:
    text: str
    accept: tuple[frozenset[str], ...]  # one set of accepted answers per [MASK]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class NextSentenceProbe:
    a: str
    b: str
    follows: bool
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerateProbe:
    prompt: str
    max_new_tokens: int = DEFAULT_NEW_TOKENS
    accept: frozenset[str] = frozenset()  # expected first words (next-token top 5)
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShownProbe:
    kind: str
    params: dict = field(hash=False)
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probes:
    fill_mask: tuple[FillMaskProbe, ...]
    next_sentence: tuple[NextSentenceProbe, ...]
    generate: tuple[GenerateProbe, ...]
    shown: tuple[ShownProbe, ...]

    def inputs(self) -> set[tuple[str, str]]:
        """(kind, main text) of every probe: what a demo default must be listed as."""
        found = {("fill-mask", p.text) for p in self.fill_mask}
        found |= {("next-sentence", f"{p.a}\n{p.b}") for p in self.next_sentence}
        found |= {("generate", p.prompt) for p in self.generate}
        found |= {("next-token", p.prompt) for p in self.generate}
        for p in self.shown:
            main = p.params.get("text") or "\n".join(
                str(p.params.get(k, "")) for k in ("word", "sentence_a", "sentence_b")
            )
            found.add((p.kind, main))
        return found


def _sources(entry: dict) -> tuple[str, ...]:
    raw = entry.get("source") or "own"
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


def load_probes(path: Path | None = None) -> Probes:
    data = yaml.safe_load(Path(path or PROBES_FILE).read_text(encoding="utf-8"))
    fill = []
    for entry in data.get("fill_mask", []):
        accept = tuple(frozenset(str(w).lower() for w in group) for group in entry["accept"])
        if entry["text"].count("[MASK]") != len(accept):
            raise ValueError(f"{entry['text']!r}: one list of answers per [MASK]")
        fill.append(FillMaskProbe(entry["text"], accept, _sources(entry)))
    nsp = [
        NextSentenceProbe(e["a"], e["b"], bool(e["follows"]), _sources(e))
        for e in data.get("next_sentence", [])
    ]
    gen = [
        GenerateProbe(
            e["prompt"],
            int(e.get("max_new_tokens", DEFAULT_NEW_TOKENS)),
            frozenset(str(w).lower() for w in e.get("accept", ())),
            _sources(e),
        )
        for e in data.get("generate", [])
    ]
    shown = [
        ShownProbe(
            e["kind"], {k: v for k, v in e.items() if k not in {"kind", "source"}}, _sources(e)
        )
        for e in data.get("shown", [])
    ]
    return Probes(tuple(fill), tuple(nsp), tuple(gen), tuple(shown))


# --- the checks ---------------------------------------------------------------------------------


def clean_token(token: str) -> str:
    """A prediction as a word: WordPiece's ## and BPE's leading space removed, lower case."""
    return token.strip().removeprefix("##").removeprefix("Ġ").lower()


def fill_mask_passes(predictions: list[list[str]], accept: tuple[frozenset[str], ...]) -> bool:
    """Every mask has an accepted answer among its top-5 predicted tokens."""
    return len(predictions) == len(accept) and all(
        any(clean_token(t) in group for t in tokens[:TOP_K])
        for tokens, group in zip(predictions, accept, strict=True)
    )


def next_sentence_passes(is_next: float, follows: bool) -> bool:
    return is_next > 0.5 if follows else is_next < 0.5


def repeated_phrase(words: list[str], size: int = REPEAT_WORDS) -> str | None:
    """The first phrase of `size` words that occurs twice in `words`, or None."""
    grams = Counter(tuple(w.lower() for w in words[i : i + size]) for i in range(len(words)))
    for i in range(len(words) - size + 1):
        gram = tuple(w.lower() for w in words[i : i + size])
        if grams[gram] > 1:
            return " ".join(words[i : i + size])
    return None


def continuation_check(text: str, is_word) -> dict:
    """Judge a greedy continuation: enough words, real words, no loop."""
    words = _WORD.findall(text)
    known = [w for w in words if is_word(w)]
    share = len(known) / len(words) if words else 0.0
    loop = repeated_phrase(words)
    return {
        "words": len(words),
        "dictionary_share": round(share, 3),
        "unknown_words": sorted({w for w in words if not is_word(w)})[:10],
        "repeated_phrase": loop,
        "passes": len(words) >= MIN_WORDS and share >= MIN_DICTIONARY_SHARE and loop is None,
    }
