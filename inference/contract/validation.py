"""Input limits for the model demos: one pure function per demo kind.

The web (forms, JSON API) and the worker (tasks re-validate what they receive) call the
same functions, so a learner reads the same sentence wherever a limit is hit. Each
``validate_<kind>(**params)`` coerces strings to the right types, cleans text, checks the
limits in ``settings.DEMO_LIMITS`` and returns the cleaned keyword arguments for the task
of that name, or raises :class:`DemoInputError`. ``inference.contract.kinds`` names each kind's
validator and dispatches on the kind (``kinds.validate``).

No torch here. Token counts use the ``tokenizers`` library on the active profile's
``tokenizer.json`` files (:func:`count_tokens`); when the models aren't there yet the
token limits are skipped and the character limit still applies.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

DEFAULT_LIMITS: dict[str, int] = {
    "max_input_tokens": 64,
    "max_chars": 400,
    "max_masks": 5,
    "max_new_tokens": 48,
    "top_k_max": 100,
    "attention_max_tokens": 32,
}

MIN_TEMPERATURE = 0.01
MAX_TEMPERATURE = 5.0
MAX_SEED = 2**32 - 1
MAX_WORD_CHARS = 50
MASK = "[MASK]"

ROLE_LABELS = {"bert": "BERT", "gpt": "GPT", "encoder": gettext_noop("the sentence encoder")}

# The learner's sentences. Each is English here and translated when a message is made
# (``gettext`` at call time): a request's language on the web, English in the worker, whose
# stored messages the pages translate when they show them (``inference.web.messages``).
# A ``label`` is one of the English labels below, translated along with the sentence.
SEND_AS_STRING = gettext_noop("Send %(what)s as a string.")
TOO_LONG = gettext_noop(
    "%(label)s is %(count)s characters long; the limit is %(limit)s characters. "
    "Shorten it and try again."
)
WHOLE_NUMBER = gettext_noop("%(label)s must be a whole number from %(lo)s to %(hi)s.")
ON_OR_OFF = gettext_noop("%(label)s must be on or off.")
TOO_MANY_TOKENS = gettext_noop(
    "%(label)s becomes %(count)s tokens for %(model)s; the limit is %(limit)s tokens. "
    "Shorten it and try again."
)
TOO_MANY_TOKENS_PAIR = gettext_noop(
    "%(label)s become %(count)s tokens for %(model)s; the limit is %(limit)s tokens. "
    "Shorten it and try again."
)
NO_MASK = gettext_noop(
    "Put [MASK] where BERT should guess a word, for example “The cat sat on the [MASK].”"
)
TOO_MANY_MASKS = gettext_noop("Use at most %(limit)s [MASK] tokens; this sentence has %(count)s.")
TEMPERATURE_RANGE = gettext_noop("Temperature must be a number from %(lo)s to %(hi)s.")
TOP_P_RANGE = gettext_noop("Top-p must be a number above 0 and at most 1.")
SEED_RANGE = gettext_noop("Seed must be a whole number from 0 to %(hi)s, or left empty.")
EMPTY_WORD = gettext_noop("Type a word first.")
ONE_WORD = gettext_noop("Type a single word, without spaces.")
WORD_TOO_LONG = gettext_noop("The word is %(count)s characters long; the limit is %(limit)s.")
WORD_MISSING = gettext_noop(
    "%(label)s doesn't contain the word “%(word)s” (as a whole word). "
    "Use the word in both sentences."
)
LABELS = (
    gettext_noop("The sentence"),
    gettext_noop("The prompt"),
    gettext_noop("The text"),
    gettext_noop("The word"),
    gettext_noop("Sentence A"),
    gettext_noop("Sentence B"),
    gettext_noop("The two sentences"),
    gettext_noop("New tokens"),
    gettext_noop("Sampling"),
    gettext_noop("Temperature"),
    gettext_noop("Top-k"),
    gettext_noop("Top-p"),
    gettext_noop("Seed"),
)

# Direction controls (embeddings, overrides, isolates, marks): invisible, and an override
# left in a result page flips the text around it. Dropped from every demo input.
_BIDI_CONTROLS = frozenset(
    chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
)
_MASK_RE = re.compile(r"\[\s*mask\s*\]|<\s*mask\s*>", re.IGNORECASE)
_INT_RE = re.compile(r"^[+-]?\d{1,20}$")
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})


class DemoInputError(ValueError):
    """Input a demo can't run on; ``message`` is a sentence for the learner.

    ``field`` names the form field at fault (None when the whole input is).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def demo_limits() -> dict[str, int]:
    return {**DEFAULT_LIMITS, **settings.DEMO_LIMITS}


# --- Coercion -----------------------------------------------------------------------


def clean_text(value: Any, *, field: str, label: str, empty_message: str) -> str:
    """Text as a model should see it: control and direction characters removed, NFC,
    stripped, bounded; text with no visible character is refused as empty."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        what = _(label)
        raise DemoInputError(_(SEND_AS_STRING) % {"what": what[:1].lower() + what[1:]}, field=field)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    # Control characters (other than newline and tab) and lone surrogates are invisible
    # or unencodable; dropping them keeps what the learner meant to type.
    value = "".join(
        ch
        for ch in value
        if ch in "\n\t"
        or (unicodedata.category(ch) not in {"Cc", "Cs"} and ch not in _BIDI_CONTROLS)
    )
    value = unicodedata.normalize("NFC", value).strip()
    # Nothing but spaces and invisible format characters (zero-width space, joiners, BOM)
    # is as empty as nothing.
    if not any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in value):
        raise DemoInputError(_(empty_message), field=field)
    max_chars = demo_limits()["max_chars"]
    if len(value) > max_chars:
        raise DemoInputError(
            _(TOO_LONG) % {"label": _(label), "count": len(value), "limit": max_chars},
            field=field,
        )
    return str(value)


def parse_int(value: Any, *, field: str, label: str, lo: int, hi: int, default: int) -> int:
    message = _(WHOLE_NUMBER) % {"label": _(label), "lo": lo, "hi": hi}
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise DemoInputError(message, field=field)
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise DemoInputError(message, field=field)
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _INT_RE.match(text):
            raise DemoInputError(message, field=field)
        value = int(text)
    elif not isinstance(value, int):
        raise DemoInputError(message, field=field)
    if not lo <= value <= hi:
        raise DemoInputError(message, field=field)
    return int(value)


def parse_float(value: Any, *, field: str, label: str, message: str, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise DemoInputError(message, field=field)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            raise DemoInputError(message, field=field)
        try:
            value = float(text)
        except ValueError:
            raise DemoInputError(message, field=field) from None
    elif isinstance(value, int):
        value = float(value)
    elif not isinstance(value, float):
        raise DemoInputError(message, field=field)
    if not math.isfinite(value):
        raise DemoInputError(message, field=field)
    return float(value)


def parse_bool(value: Any, *, field: str, label: str, default: bool = False) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise DemoInputError(_(ON_OR_OFF) % {"label": _(label)}, field=field)


def normalise_masks(text: str) -> str:
    """``[mask]``, ``<mask>`` and spaced variants become BERT's ``[MASK]``."""
    return _MASK_RE.sub(MASK, text)


def contains_word(sentence: str, word: str) -> bool:
    """Whole-word, case-insensitive match ("bank" is in "the bank." but not in "banks")."""
    pattern = r"(?<!\w)" + re.escape(word) + r"(?!\w)"
    return re.search(pattern, sentence, flags=re.IGNORECASE) is not None


# --- Token counts -------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _load_tokenizer(path: str, mtime: float) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    # Some shipped tokenizer.json files (the MiniLM encoder's) pad and truncate
    # every input to a fixed length; counting needs the text's own tokens.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def tokenizer_path(role: str) -> Path | None:
    """``tokenizer.json`` of ``role`` in the active profile, or None when it isn't there."""
    try:
        from inference.contract import registry

        specs = registry.profile_specs(registry.active_profile_name())
    except Exception:  # registry missing or profile unresolvable: no token limits yet
        return None
    spec = specs.get(role)
    if spec is None:
        return None
    path = Path(spec.path) / "tokenizer.json"
    return path if path.is_file() else None


def count_tokens(role: str, text: str, pair: str | None = None) -> int | None:
    """How many tokens ``role``'s tokenizer makes of ``text`` (special tokens included).

    None when the active profile's tokenizer isn't available (models not built yet).
    """
    path = tokenizer_path(role)
    if path is None:
        return None
    try:
        tokenizer = _load_tokenizer(str(path), path.stat().st_mtime)
    except Exception:  # an unreadable or half-written file: skip the token limit
        return None
    encoding = tokenizer.encode(text, pair) if pair is not None else tokenizer.encode(text)
    return len(encoding.ids)


def check_tokens(
    roles: tuple[str, ...],
    text: str,
    *,
    field: str,
    label: str,
    limit_name: str = "max_input_tokens",
    pair: str | None = None,
) -> None:
    limit = demo_limits()[limit_name]
    for role in roles:
        count = count_tokens(role, text, pair)
        if count is not None and count > limit:
            template = TOO_MANY_TOKENS_PAIR if pair is not None else TOO_MANY_TOKENS
            raise DemoInputError(
                _(template)
                % {
                    "label": _(label),
                    "count": count,
                    "model": _(ROLE_LABELS.get(role, role)),
                    "limit": limit,
                },
                field=field,
            )


# --- One validator per demo kind -------------------------------------------------------

EMPTY_SENTENCE = gettext_noop("Type a sentence first.")


def validate_fill_mask(*, text: Any = None, top_k: Any = 5) -> dict[str, Any]:
    limits = demo_limits()
    text = normalise_masks(
        clean_text(text, field="text", label="The sentence", empty_message=EMPTY_SENTENCE)
    )
    masks = text.count(MASK)
    if masks == 0:
        raise DemoInputError(_(NO_MASK), field="text")
    if masks > limits["max_masks"]:
        raise DemoInputError(
            _(TOO_MANY_MASKS) % {"limit": limits["max_masks"], "count": masks}, field="text"
        )
    top_k = parse_int(top_k, field="top_k", label="Top-k", lo=1, hi=limits["top_k_max"], default=5)
    check_tokens(("bert",), text, field="text", label="The sentence")
    return {"text": text, "top_k": top_k}


def validate_generate(
    *,
    prompt: Any = None,
    max_new_tokens: Any = 20,
    do_sample: Any = False,
    temperature: Any = 1.0,
    top_k: Any = 0,
    top_p: Any = 1.0,
    seed: Any = None,
) -> dict[str, Any]:
    limits = demo_limits()
    prompt = clean_text(prompt, field="prompt", label="The prompt", empty_message=EMPTY_SENTENCE)
    max_new_tokens = parse_int(
        max_new_tokens,
        field="max_new_tokens",
        label="New tokens",
        lo=1,
        hi=limits["max_new_tokens"],
        default=min(20, limits["max_new_tokens"]),
    )
    do_sample = parse_bool(do_sample, field="do_sample", label="Sampling")
    check_tokens(("gpt",), prompt, field="prompt", label="The prompt")
    if not do_sample:
        # Greedy decoding ignores the sampling knobs; fixed values keep cache keys stable.
        return {
            "prompt": prompt,
            "max_new_tokens": max_new_tokens,
            "do_sample": False,
            "temperature": 1.0,
            "top_k": 0,
            "top_p": 1.0,
            "seed": None,
        }
    temperature = parse_temperature(temperature)
    top_k = parse_int(
        top_k,
        field="top_k",
        label="Top-k",
        lo=0,
        hi=limits["top_k_max"],
        default=0,
    )
    top_p = parse_top_p(top_p)
    seed = parse_seed(seed)
    return {
        "prompt": prompt,
        "max_new_tokens": max_new_tokens,
        "do_sample": True,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "seed": seed,
    }


def parse_temperature(value: Any, *, default: float = 1.0) -> float:
    message = _(TEMPERATURE_RANGE) % {"lo": f"{MIN_TEMPERATURE}", "hi": f"{MAX_TEMPERATURE:g}"}
    temperature = parse_float(
        value, field="temperature", label="Temperature", message=message, default=default
    )
    if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
        raise DemoInputError(message, field="temperature")
    return temperature


def parse_top_p(value: Any, *, default: float = 1.0) -> float:
    message = _(TOP_P_RANGE)
    top_p = parse_float(value, field="top_p", label="Top-p", message=message, default=default)
    if not 0 < top_p <= 1:
        raise DemoInputError(message, field="top_p")
    return top_p


def parse_seed(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_int(value, field="seed", label="Seed", lo=0, hi=MAX_SEED, default=0)
    except DemoInputError:
        raise DemoInputError(_(SEED_RANGE) % {"hi": MAX_SEED}, field="seed") from None


def validate_next_token(*, prompt: Any = None, top_k: Any = 20) -> dict[str, Any]:
    limits = demo_limits()
    prompt = clean_text(prompt, field="prompt", label="The prompt", empty_message=EMPTY_SENTENCE)
    top_k = parse_int(
        top_k,
        field="top_k",
        label="Top-k",
        lo=1,
        hi=limits["top_k_max"],
        default=min(20, limits["top_k_max"]),
    )
    check_tokens(("gpt",), prompt, field="prompt", label="The prompt")
    return {"prompt": prompt, "top_k": top_k}


def validate_attention(*, text: Any = None) -> dict[str, Any]:
    text = clean_text(text, field="text", label="The sentence", empty_message=EMPTY_SENTENCE)
    check_tokens(
        ("bert", "gpt"),
        text,
        field="text",
        label="The sentence",
        limit_name="attention_max_tokens",
    )
    return {"text": text}


def validate_tokenize(*, text: Any = None) -> dict[str, Any]:
    text = clean_text(text, field="text", label="The text", empty_message=EMPTY_SENTENCE)
    check_tokens(("bert", "gpt"), text, field="text", label="The text")
    return {"text": text}


def validate_embeddings(
    *, word: Any = None, sentence_a: Any = None, sentence_b: Any = None
) -> dict[str, Any]:
    word = clean_text(word, field="word", label="The word", empty_message=EMPTY_WORD)
    if any(ch.isspace() for ch in word):
        raise DemoInputError(_(ONE_WORD), field="word")
    if len(word) > MAX_WORD_CHARS:
        raise DemoInputError(
            _(WORD_TOO_LONG) % {"count": len(word), "limit": MAX_WORD_CHARS}, field="word"
        )
    sentence_a = clean_text(
        sentence_a, field="sentence_a", label="Sentence A", empty_message=EMPTY_SENTENCE
    )
    sentence_b = clean_text(
        sentence_b, field="sentence_b", label="Sentence B", empty_message=EMPTY_SENTENCE
    )
    for field, label, sentence in (
        ("sentence_a", "Sentence A", sentence_a),
        ("sentence_b", "Sentence B", sentence_b),
    ):
        if not contains_word(sentence, word):
            raise DemoInputError(_(WORD_MISSING) % {"label": _(label), "word": word}, field=field)
        check_tokens(("bert", "encoder"), sentence, field=field, label=label)
    return {"word": word, "sentence_a": sentence_a, "sentence_b": sentence_b}


def validate_next_sentence(*, sentence_a: Any = None, sentence_b: Any = None) -> dict[str, Any]:
    sentence_a = clean_text(
        sentence_a, field="sentence_a", label="Sentence A", empty_message=EMPTY_SENTENCE
    )
    sentence_b = clean_text(
        sentence_b, field="sentence_b", label="Sentence B", empty_message=EMPTY_SENTENCE
    )
    check_tokens(
        ("bert",), sentence_a, field="sentence_b", label="The two sentences", pair=sentence_b
    )
    return {"sentence_a": sentence_a, "sentence_b": sentence_b}
