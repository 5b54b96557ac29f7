"""The learner's sentences that a task's events carry, translated when a page shows them.

(And what a model worker's heartbeat says it is doing, on the demo status page.)

An ``error`` event (and a next-sentence result that can't answer) holds an English sentence:
the worker writes it, with no learner's language to go by, and it is kept in Redis for
whoever opens the result, in whichever language. So the pages translate it when they show
it: :func:`learner_message` recognises the sentences the demos write (the worker's own,
``inference.contract.verdicts``, ``inference.contract.validation``) and gives each in the
language active now, placeholders and all (a label in a sentence is translated too). A
sentence it doesn't know is shown as it is.

The worker's own sentences (``inference/worker/tasks.py`` ``MESSAGES`` and its engines'
errors) are repeated in :data:`WORKER_SENTENCES` so that they are in the catalogue; one
changed there and not here is simply shown in English.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.utils.translation import gettext, gettext_noop

from inference.contract import errors, validation, verdicts

WORKER_SENTENCES = (
    gettext_noop(
        "The model took too long to answer (over %(seconds)s seconds). Try a shorter "
        "input or fewer new tokens."
    ),
    gettext_noop("The models aren't ready on this worker yet. Please try again in a minute."),
    gettext_noop(
        "Something went wrong inside the model worker. Please try again; if it keeps "
        "happening, tell the course team."
    ),
    gettext_noop(
        "The model worker stopped twice while working on this, so it was not "
        "retried again. Try a shorter input."
    ),
    gettext_noop("This BERT model has no [MASK] token, so it can't fill in blanks."),
    gettext_noop("BERT's tokenizer drops the word “%(word)s” in %(what)s; try another word."),
    gettext_noop(
        "This BERT model was saved without its next-sentence head, so it can't judge whether "
        "sentence B follows sentence A."
    ),
)

# What a worker's heartbeat says it is doing (``inference/worker/process.py``), shown on the
# demo status page while it isn't ready.
WORKER_STATUSES = (
    gettext_noop("starting"),
    gettext_noop("loading models"),
    gettext_noop("models loaded; connecting to the broker"),
    gettext_noop("ready"),
    gettext_noop("waiting for models (run manage.py %(command)s)"),
    gettext_noop("could not load models (%(error)s); retrying"),
    gettext_noop(
        "not serving: the prefork pool would fork after the models load; "
        "restart with -P threads (or -P solo)"
    ),
)

# What the pages themselves say of an error event that came without a sentence.
SOMETHING_WENT_WRONG = gettext_noop("Something went wrong running this demo.")

KNOWN_SENTENCES = (
    *WORKER_SENTENCES,
    *WORKER_STATUSES,
    SOMETHING_WENT_WRONG,
    errors.SERVICE_DOWN,
    verdicts.WORKER_LOST,
    verdicts.NO_WORKER,
    verdicts.QUEUE_TIMEOUT,
    verdicts.RAN_TOO_LONG,
    validation.SEND_AS_STRING,
    validation.TOO_LONG,
    validation.WHOLE_NUMBER,
    validation.ON_OR_OFF,
    validation.TOO_MANY_TOKENS,
    validation.TOO_MANY_TOKENS_PAIR,
    validation.NO_MASK,
    validation.TOO_MANY_MASKS,
    validation.TEMPERATURE_RANGE,
    validation.TOP_P_RANGE,
    validation.SEED_RANGE,
    validation.EMPTY_SENTENCE,
    validation.EMPTY_WORD,
    validation.ONE_WORD,
    validation.WORD_TOO_LONG,
    validation.WORD_MISSING,
)

# Placeholders that hold a label (or a model's name) rather than the learner's own text:
# translated with the sentence. ``what`` is a label starting in lower case.
_LABEL_FIELDS = frozenset({"label", "model", "what"})
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@functools.cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    patterns = []
    for sentence in KNOWN_SENTENCES:
        parts = _PLACEHOLDER.split(sentence)
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
            for index, part in enumerate(parts)
        )
        patterns.append((sentence, re.compile(f"^{regex}$", re.DOTALL)))
    return tuple(patterns)


@functools.cache
def _labels() -> dict[str, str]:
    """Every English label, by its lower-case spelling."""
    labels = [*validation.LABELS, *validation.ROLE_LABELS.values()]
    return {label.lower(): label for label in labels}


def _value(name: str, value: str) -> str:
    if name not in _LABEL_FIELDS:
        return value
    label = _labels().get(value.lower())
    if label is None:
        return value
    translated = gettext(label)
    return translated[:1].lower() + translated[1:] if name == "what" else translated


def learner_message(message: Any) -> Any:
    """``message`` in the language active now when it is one of the demos' own sentences;
    anything else unchanged (English pages always get it unchanged)."""
    if not isinstance(message, str) or not message:
        return message
    for sentence, pattern in _patterns():
        match = pattern.match(message)
        if match is None:
            continue
        translated = gettext(sentence)
        if translated == sentence:  # English (or not translated): as it was written
            return message
        values = {name: _value(name, value) for name, value in match.groupdict().items()}
        return translated % values if values else translated
    return message
