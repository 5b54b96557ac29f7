"""What ``manage.py record_examples`` records: the inputs behind every stored example.

The playground's ready examples (:data:`CATALOGUE`, a handful per demo, each showing one
idea), each demo form's starting values, and every demo block in the course's Markdown,
so a lesson's widget can show a stored result for exactly its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from inference.contract import demo_cards, kinds


@dataclass(frozen=True)
class ExampleInput:
    """One input to record: what the learner would have typed."""

    kind: str
    title: str
    params: dict[str, Any]
    source: str = "playground"  # "playground", "form default" or "lesson:<slug>"


# The playground's ready examples (a handful per demo, chosen to show one idea each).
# Titles are recorded in English and translated where the chips show them.
CATALOGUE: tuple[ExampleInput, ...] = (
    ExampleInput(
        "fill-mask", gettext_noop("Capital of France"), {"text": "The capital of France is [MASK]."}
    ),
    ExampleInput(
        "fill-mask",
        gettext_noop("Bread from the …"),
        {"text": "She went to the [MASK] to buy some bread."},
    ),
    ExampleInput(
        "fill-mask",
        gettext_noop("Two blanks at once"),
        {"text": "The [MASK] sat on the [MASK] because it was tired."},
    ),
    ExampleInput(
        "fill-mask",
        gettext_noop("Python docs"),
        {"text": "Return the [MASK] of the list.", "top_k": 8},
    ),
    ExampleInput(
        "generate", gettext_noop("Greedy: once upon a time"), {"prompt": "Once upon a time"}
    ),
    ExampleInput(
        "generate",
        gettext_noop("Sampling, temperature 0.8, seed 42"),
        {
            "prompt": "Once upon a time",
            "max_new_tokens": 30,
            "do_sample": True,
            "temperature": 0.8,
            "top_p": 0.9,
            "seed": 42,
        },
    ),
    ExampleInput(
        "generate",
        gettext_noop("Sampling, temperature 1.5, seed 42"),
        {
            "prompt": "Once upon a time",
            "max_new_tokens": 30,
            "do_sample": True,
            "temperature": 1.5,
            "top_p": 0.9,
            "seed": 42,
        },
    ),
    ExampleInput(
        "generate",
        gettext_noop("Docs-style prompt"),
        {"prompt": "This function returns", "max_new_tokens": 24},
    ),
    ExampleInput("next-token", "The capital of France is", {"prompt": "The capital of France is"}),
    ExampleInput(
        "next-token", "If the file does not exist,", {"prompt": "If the file does not exist,"}
    ),
    ExampleInput("next-token", "My favourite food is", {"prompt": "My favourite food is"}),
    ExampleInput(
        "attention",
        gettext_noop("It was tired"),
        {"text": "The cat sat on the mat because it was tired."},
    ),
    ExampleInput(
        "attention",
        gettext_noop("The default value"),
        {"text": "The default value is returned when the key is missing."},
    ),
    ExampleInput(
        "tokenize",
        gettext_noop("Rare words"),
        {"text": "Tokenizers split unbelievably long words differently."},
    ),
    ExampleInput(
        "tokenize",
        gettext_noop("Accents and emoji"),
        {"text": "A naïve café owner 🙂 said “hello”."},
    ),
    ExampleInput("tokenize", gettext_noop("Code"), {"text": "print(len(my_list)) # 42"}),
    ExampleInput(
        "embeddings",
        gettext_noop("bank: river or money"),
        {
            "word": "bank",
            "sentence_a": "She sat on the bank of the river.",
            "sentence_b": "He paid the cheque into the bank.",
        },
    ),
    ExampleInput(
        "embeddings",
        gettext_noop("key: dictionary or door"),
        {
            "word": "key",
            "sentence_a": "The key is looked up in the dictionary.",
            "sentence_b": "She turned the key and opened the door.",
        },
    ),
    ExampleInput(
        "next-sentence",
        gettext_noop("A real next sentence"),
        {"sentence_a": "The cat sat on the mat.", "sentence_b": "It was very comfortable."},
    ),
    ExampleInput(
        "next-sentence",
        gettext_noop("A random sentence"),
        {
            "sentence_a": "The cat sat on the mat.",
            "sentence_b": "Stock markets fell sharply on Monday.",
        },
    ),
)


# --- What gets recorded ---------------------------------------------------------------


def lesson_inputs(directory: Path) -> list[ExampleInput]:
    """One input per demo block in the course's Markdown files (in file order)."""
    import frontmatter

    inputs = []
    for path in sorted(Path(directory).glob("*.md")):
        post = frontmatter.load(path)
        slug = str(post.metadata.get("slug") or path.stem)
        title = str(post.metadata.get("title") or slug)
        for block in demo_cards.demo_blocks(post.content):
            inputs.append(
                ExampleInput(
                    block.kind, f"From the lesson “{title}”", dict(block.defaults), f"lesson:{slug}"
                )
            )
    return inputs


def form_default_inputs() -> list[ExampleInput]:
    inputs = []
    for kind in kinds.all_kinds():
        form = kind.form_class()()
        params = {
            name: form.get_initial_for_field(field, name)
            for name, field in form.fields.items()
            if form.get_initial_for_field(field, name) not in (None, "")
        }
        inputs.append(
            ExampleInput(
                kind.name, gettext_noop("The form's starting values"), params, "form default"
            )
        )
    return inputs


def example_inputs(lessons_dir: Path | None = None) -> list[ExampleInput]:
    """Every input to record: the catalogue, the form defaults and the lessons' demo blocks."""
    lessons_dir = lessons_dir or Path(settings.BASE_DIR) / "lessons" / "content"
    inputs = [*CATALOGUE, *form_default_inputs()]
    if lessons_dir.is_dir():
        inputs += lesson_inputs(lessons_dir)
    return inputs
