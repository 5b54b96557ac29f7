"""The demo kinds: one row each, and everything else reads the rows.

A demo kind is what a learner sees as one live demo ("fill-mask", "generate", ...): its
URL word, its title and one-line intro, its input rules, the web form that collects the
input, the worker function that runs it, the Celery task that carries it, its time limits,
whether concurrent requests share forward passes, and the template that draws its result.
Adding a demo is one :func:`register` call (a row below) plus its validator, engine runner,
form, presenter and template; ``tests/inference/contract/test_kinds.py`` registers a made-up kind
to prove it.

This module is the contract both sides share: it imports no torch, no forms, no worker
code. The form, presenter and runner are named by dotted path and imported where they are
used (the web side resolves ``form`` and ``present``; only the worker resolves ``run``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.utils.module_loading import import_string
from django.utils.translation import gettext, gettext_lazy

from inference.contract import validation
from inference.contract.validation import DemoInputError

# A demo's title and intro are read in the learner's language wherever they are shown: lazy
# strings (typed as the str they render as).
_ = cast(Callable[[str], str], gettext_lazy)

TASK_PREFIX = "inference.tasks."  # CELERY_TASK_ROUTES sends inference.tasks.* to the workers


@dataclass(frozen=True)
class DemoKind:
    name: str  # the URL word: /demos/<name>/
    title: str  # the learner's title, on lesson demo boxes, the playground and the form page
    intro: str  # one line under the title: what the demo shows
    validate: Callable[..., dict[str, Any]]  # keyword arguments -> cleaned ones, or DemoInputError
    form: str  # dotted path of the web form class (an ``inference.web.forms.DemoForm``)
    present: str  # dotted path: (result, params) -> extra context for the result template
    run: str  # dotted path of the worker's runner: (runtime, cleaned, job) -> result
    time_limits: tuple[int, int] = (20, 30)  # (soft, hard) seconds of its task
    # The engine module (prepare/forward/finish) through which concurrent requests share
    # forward passes (inference/worker/batching.py); None: each request runs alone.
    batch_engine: str | None = None
    streamed: bool = False  # tokens arrive one by one over Server-Sent Events
    # The result template; None: inference/results/<name with underscores>.html
    template: str | None = None
    # A tiny input the worker runs once when it loads models (first calls allocate kernels);
    # None: nothing worth warming.
    warm_up: Mapping[str, Any] | None = field(default=None, hash=False)

    @property
    def task_name(self) -> str:
        return TASK_PREFIX + self.name.replace("-", "_")

    @property
    def result_template(self) -> str:
        return self.template or f"inference/results/{self.name.replace('-', '_')}.html"

    @property
    def batched(self) -> bool:
        return self.batch_engine is not None

    @property
    def transport(self) -> str:
        """How an unfinished result follows its task: "sse" (token by token) or "poll"."""
        return "sse" if self.streamed else "poll"

    @property
    def fields(self) -> tuple[str, ...]:
        """The input fields, in order: the validator's keyword-only parameters."""
        return _fields(self.validate)

    @property
    def soft_seconds(self) -> int:
        return self.time_limits[0]

    @property
    def hard_seconds(self) -> int:
        return self.time_limits[1]

    def form_class(self) -> Any:
        return import_string(self.form)

    def presenter(self) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
        found: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
        found = import_string(self.present)
        return found

    def runner(self) -> Callable[..., dict[str, Any]]:
        found: Callable[..., dict[str, Any]] = import_string(self.run)
        return found


@functools.cache
def _fields(validate: Callable[..., dict[str, Any]]) -> tuple[str, ...]:
    return tuple(
        name
        for name, parameter in inspect.signature(validate).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    )


_REGISTRY: dict[str, DemoKind] = {}


def register(kind: DemoKind) -> DemoKind:
    """Add (or replace) a demo kind; returns it."""
    _REGISTRY[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a kind (tests that register a made-up one clean up with this)."""
    _REGISTRY.pop(name, None)


def get(name: str | None) -> DemoKind | None:
    return _REGISTRY.get(name or "")


def require(name: str) -> DemoKind:
    """The kind called ``name``, or a DemoInputError a learner can read."""
    kind = get(name)
    if kind is None:
        raise DemoInputError(gettext("There is no demo called “%(name)s”.") % {"name": name})
    return kind


def all_kinds() -> tuple[DemoKind, ...]:
    """Every kind, in the order the playground shows them."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def validate(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` for demo ``name`` (unknown kinds and fields are refused)."""
    kind = require(name)
    if not isinstance(params, Mapping):
        raise DemoInputError(gettext("Send the demo's settings as an object of named fields."))
    unknown = sorted(str(field) for field in params if field not in kind.fields)
    if unknown:
        raise DemoInputError(
            gettext("Unknown field for the %(name)s demo: %(unknown)s. Expected: %(expected)s.")
            % {"name": name, "unknown": ", ".join(unknown), "expected": ", ".join(kind.fields)},
            field=None,
        )
    return kind.validate(**params)


# --- The demos -------------------------------------------------------------------------

register(
    DemoKind(
        name="fill-mask",
        title=_("Fill in the blank with BERT"),
        intro=_(
            "BERT reads the whole sentence at once, left and right of each blank, "
            "and scores every word in its vocabulary for the [MASK]."
        ),
        validate=validation.validate_fill_mask,
        form="inference.web.forms.FillMaskForm",
        present="inference.web.presenters.present_fill_mask",
        run="inference.worker.runners.fill_mask",
        batch_engine="inference.worker.engine.fill_mask",
        warm_up={"text": "the [MASK] is here.", "top_k": 1},
    )
)
register(
    DemoKind(
        name="generate",
        title=_("Let GPT continue your text"),
        intro=_("GPT only looks left: it predicts one token, appends it, and repeats."),
        validate=validation.validate_generate,
        form="inference.web.forms.GenerateForm",
        present="inference.web.presenters.present_generate",
        run="inference.worker.runners.generate",
        time_limits=(60, 75),
        streamed=True,
        warm_up={"prompt": "The", "max_new_tokens": 2},
    )
)
register(
    DemoKind(
        name="next-token",
        title=_("What GPT would say next"),
        intro=_(
            "Before GPT picks a token it gives every token in its vocabulary a "
            "probability. Here is the top of that list, and how temperature, top-k and top-p "
            "reshape it."
        ),
        validate=validation.validate_next_token,
        form="inference.web.forms.NextTokenForm",
        present="inference.web.presenters.present_next_token",
        run="inference.worker.runners.next_token",
        batch_engine="inference.worker.engine.next_token",
    )
)
register(
    DemoKind(
        name="attention",
        title=_("Who attends to whom: BERT and GPT side by side"),
        intro=_(
            "Attention weights show which tokens each token looks at. BERT's "
            "attention goes both ways; GPT's is causal: no token can look at the ones after it."
        ),
        validate=validation.validate_attention,
        form="inference.web.forms.AttentionForm",
        present="inference.web.presenters.present_attention",
        run="inference.worker.runners.attention",
        warm_up={"text": "a b"},
    )
)
register(
    DemoKind(
        name="tokenize",
        title=_("How BERT and GPT cut text into tokens"),
        intro=_(
            "BERT uses WordPiece (## marks a piece that continues a word); GPT-2 uses "
            "byte-level BPE (␣ marks a leading space)."
        ),
        validate=validation.validate_tokenize,
        form="inference.web.forms.TokenizeForm",
        present="inference.web.presenters.present_tokenize",
        run="inference.worker.runners.tokenize",
    )
)
register(
    DemoKind(
        name="embeddings",
        title=_("One word, two meanings: contextual embeddings"),
        intro=_(
            "BERT gives the same word a different vector in each sentence "
            "(contextual embeddings); a sentence encoder gives whole sentences one vector each."
        ),
        validate=validation.validate_embeddings,
        form="inference.web.forms.EmbeddingsForm",
        present="inference.web.presenters.present_embeddings",
        run="inference.worker.runners.embeddings",
        batch_engine="inference.worker.engine.embeddings",
        warm_up={
            "word": "bank",
            "sentence_a": "The bank was closed.",
            "sentence_b": "We sat on the river bank.",
        },
    )
)
register(
    DemoKind(
        name="next-sentence",
        title=_("Does sentence B follow sentence A? (BERT's next-sentence head)"),
        intro=_(
            "BERT's second pre-training task: is sentence B the real next "
            "sentence after A, or a random one?"
        ),
        validate=validation.validate_next_sentence,
        form="inference.web.forms.NextSentenceForm",
        present="inference.web.presenters.present_next_sentence",
        run="inference.worker.runners.next_sentence",
        warm_up={"sentence_a": "It rained.", "sentence_b": "It stopped."},
    )
)
