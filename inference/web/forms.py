"""One form per demo kind; every rule lives in ``inference.contract.validation``.

Fields are deliberately loose (``CharField(required=False)``) so that ``clean()`` hands the
raw values to the same validator the worker runs, and the learner reads the same message
on the page, in the JSON API and from the worker.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from inference.contract import kinds
from inference.contract.validation import (
    MAX_SEED,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    DemoInputError,
    demo_limits,
    parse_int,
    parse_temperature,
    parse_top_p,
)


def _lazy_format(message: Any, **values: Any) -> Any:
    """``message % values`` in the language active when it is shown (a lazy string)."""
    return lazy(lambda: str(message) % values, str)()


def label_suffix() -> str:
    """What follows a field's label: ":" in English, a full-width colon in Chinese."""
    return pgettext("after a form field's label", ":")


def _textarea(*, rows: int = 3, placeholder: str = "") -> forms.Textarea:
    return forms.Textarea(
        attrs={
            "rows": rows,
            "maxlength": demo_limits()["max_chars"],
            "placeholder": placeholder,
            "spellcheck": "false",
        }
    )


def _text_input(*, placeholder: str = "") -> forms.TextInput:
    return forms.TextInput(
        attrs={"maxlength": demo_limits()["max_chars"], "placeholder": placeholder}
    )


def _number(*, lo: float, hi: float, step: float | str = 1) -> forms.NumberInput:
    inputmode = "numeric" if step == 1 else "decimal"
    return forms.NumberInput(attrs={"min": lo, "max": hi, "step": step, "inputmode": inputmode})


class DemoForm(forms.Form):
    """Base: ``clean()`` runs ``kinds.validate(kind, ...)`` and keeps the result."""

    kind: ClassVar[str] = ""  # its row in ``inference.contract.kinds`` names this class
    submit_label: ClassVar[str] = _("Run")

    # Fields grouped under "Sampling settings" on the page (GenerateForm only).
    sampling_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", label_suffix())
        super().__init__(*args, **kwargs)
        self.params: dict[str, Any] | None = None

    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in self.sampling_fields]

    def sampling_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.sampling_fields]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        fields = kinds.require(self.kind).fields
        raw = {name: cleaned.get(name) for name in fields if name in self.fields}
        try:
            self.params = kinds.validate(self.kind, raw)
        except DemoInputError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned


def text_field(
    label: Any, initial: str = "", *, help_text: Any = "", rows: int = 3, line: bool = False
) -> forms.CharField:
    """A loose text field (the validator cleans it): a textarea whose placeholder is the
    starting value, or one line (``line``)."""
    widget = _text_input() if line else _textarea(rows=rows, placeholder=initial)
    return forms.CharField(
        required=False,
        strip=False,
        label=label,
        initial=initial or None,
        help_text=help_text,
        widget=widget,
    )


def number_field(
    label: Any,
    initial: float | None,
    *,
    lo: float,
    hi: float,
    step: float | str = 1,
    help_text: Any = "",
) -> forms.CharField:
    """A loose number field (kept as text, so the validator words every refusal)."""
    return forms.CharField(
        required=False,
        label=label,
        initial=initial,
        help_text=help_text,
        widget=_number(lo=lo, hi=hi, step=step),
    )


TOP_K_MAX = demo_limits()["top_k_max"]


class FillMaskForm(DemoForm):
    kind = "fill-mask"
    submit_label = _("Guess the missing words")

    text = text_field(
        _("Sentence with [MASK]"),
        "The cat sat on the [MASK].",
        help_text=_("Write [MASK] where BERT should guess a word (up to 5 masks)."),
    )
    top_k = number_field(
        _("Guesses per mask (top-k)"),
        5,
        lo=1,
        hi=TOP_K_MAX,
        help_text=_("How many of BERT's best guesses to show for each [MASK]."),
    )


class GenerateForm(DemoForm):
    kind = "generate"
    submit_label = _("Generate")

    prompt = text_field(
        _("Prompt"),
        "Once upon a time",
        help_text=_("GPT writes what comes next, one token at a time, left to right."),
    )
    max_new_tokens = number_field(
        _("New tokens"),
        20,
        lo=1,
        hi=demo_limits()["max_new_tokens"],
        help_text=_lazy_format(
            _("How many tokens to add (1 to %(limit)s)."), limit=demo_limits()["max_new_tokens"]
        ),
    )
    do_sample = forms.BooleanField(
        required=False,
        label=_("Sample instead of always taking the most likely token"),
        help_text=_(
            "Off: greedy decoding, the same text every time. "
            "On: the settings below shape the randomness."
        ),
    )
    temperature = number_field(
        _("Temperature"),
        1.0,
        lo=MIN_TEMPERATURE,
        hi=MAX_TEMPERATURE,
        step="any",
        help_text=_lazy_format(
            _("%(lo)s to %(hi)s. Lower is safer and more repetitive, higher is more surprising."),
            lo=f"{MIN_TEMPERATURE}",
            hi=f"{MAX_TEMPERATURE:g}",
        ),
    )
    top_k = number_field(
        _("Top-k"),
        0,
        lo=0,
        hi=TOP_K_MAX,
        help_text=_("Sample only among the k most likely tokens (0 turns it off)."),
    )
    top_p = number_field(
        _("Top-p"),
        1.0,
        lo=0,
        hi=1,
        step="any",
        help_text=_(
            "Sample among the most likely tokens whose probabilities add up to p (1 turns it off)."
        ),
    )
    seed = number_field(
        _("Seed (optional)"),
        None,
        lo=0,
        hi=MAX_SEED,
        help_text=_("The same seed and settings give the same text again."),
    )

    sampling_fields: ClassVar[tuple[str, ...]] = ("temperature", "top_k", "top_p", "seed")


class NextTokenForm(DemoForm):
    kind = "next-token"
    submit_label = _("Show the next-token probabilities")

    prompt = text_field(
        _("Prompt"),
        "The capital of France is",
        help_text=_("GPT scores every token in its vocabulary as the next one."),
    )
    top_k = number_field(
        _("Candidates to show"),
        20,
        lo=1,
        hi=TOP_K_MAX,
        help_text=_lazy_format(_("1 to %(limit)s."), limit=TOP_K_MAX),
    )


class AttentionForm(DemoForm):
    kind = "attention"
    submit_label = _("Show attention")

    text = text_field(
        _("Sentence"),
        "The cat sat on the mat because it was tired.",
        rows=2,
        help_text=_lazy_format(
            _("Keep it short: at most %(limit)s tokens."),
            limit=demo_limits()["attention_max_tokens"],
        ),
    )


class TokenizeForm(DemoForm):
    kind = "tokenize"
    submit_label = _("Tokenize")

    text = text_field(
        _("Text"),
        "Tokenizers split unbelievable words into pieces.",
        help_text=_("Any text: try rare words, numbers, emoji or other scripts."),
    )


class EmbeddingsForm(DemoForm):
    kind = "embeddings"
    submit_label = _("Compare")

    word = forms.CharField(
        required=False,
        strip=False,
        label=_("Word"),
        initial="bank",
        help_text=_("A single word that appears in both sentences."),
        widget=forms.TextInput(attrs={"maxlength": 50, "autocapitalize": "none"}),
    )
    sentence_a = text_field(_("Sentence A"), "She sat on the bank of the river.", line=True)
    sentence_b = text_field(_("Sentence B"), "He paid the cheque into the bank.", line=True)


class NextSentenceForm(DemoForm):
    kind = "next-sentence"
    submit_label = _("Ask BERT")

    sentence_a = text_field(_("Sentence A"), "The cat sat on the mat.", line=True)
    sentence_b = text_field(
        _("Sentence B"),
        "It was very comfortable.",
        line=True,
        help_text=_("BERT was pre-trained to tell a real next sentence from a random one."),
    )


def form_class(kind: str) -> type[DemoForm]:
    """The form of demo ``kind`` (named in its row); KeyError for an unknown kind."""
    row = kinds.get(kind)
    if row is None:
        raise KeyError(kind)
    return row.form_class()


class ReshapeForm(forms.Form):
    """Knobs for re-shaping a next-token distribution (no task is queued)."""

    temperature = forms.CharField(
        required=False,
        label=_("Temperature"),
        initial=1.0,
        widget=_number(lo=MIN_TEMPERATURE, hi=MAX_TEMPERATURE, step="any"),
    )
    top_k = forms.CharField(
        required=False,
        label=_("Top-k (0 = off)"),
        initial=0,
        widget=_number(lo=0, hi=demo_limits()["top_k_max"]),
    )
    top_p = forms.CharField(
        required=False,
        label=_("Top-p (1 = off)"),
        initial=1.0,
        widget=_number(lo=0, hi=1, step="any"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", label_suffix())
        super().__init__(*args, **kwargs)
        self.knobs: dict[str, Any] | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            self.knobs = {
                "temperature": parse_temperature(cleaned.get("temperature")),
                "top_k": parse_int(
                    cleaned.get("top_k"),
                    field="top_k",
                    label="Top-k",
                    lo=0,
                    hi=demo_limits()["top_k_max"],
                    default=0,
                ),
                "top_p": parse_top_p(cleaned.get("top_p")),
            }
        except DemoInputError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned
