"""The demo card format, read without rendering a lesson (``inference.contract.demo_cards``)."""

from __future__ import annotations

from pathlib import Path

import frontmatter
import pytest

from inference.contract import demo_cards
from lessons.markdown import render_lesson

LESSONS = sorted((Path(__file__).resolve().parents[3] / "lessons" / "content").glob("*.md"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_the_blocks_read_from_markdown_are_the_cards_a_rendered_lesson_holds(path):
    text = frontmatter.load(path).content
    blocks = [(b.kind, b.defaults) for b in demo_cards.demo_blocks(text)]
    cards = [(s.kind, s.defaults) for s in demo_cards.iter_demo_slots(render_lesson(text).html)]
    assert blocks == cards


def test_the_course_has_demo_blocks_to_compare():
    assert sum(len(demo_cards.demo_blocks(frontmatter.load(p).content)) for p in LESSONS) >= 8


def test_broken_blocks_and_code_samples_are_not_demos():
    text = "\n".join(
        [
            "```demo fill-mask",
            'text: "The capital of France is [MASK]."',
            "```",
            "````markdown",
            "```demo generate",
            "prompt: shown, not run",
            "```",
            "````",
            "```demo no-such-kind",
            "```",
            "```demo tokenize",
            "text: [unclosed",
            "```",
        ]
    )
    assert [(b.kind, b.defaults) for b in demo_cards.demo_blocks(text)] == [
        ("fill-mask", {"text": "The capital of France is [MASK]."})
    ]
    _text, every = demo_cards.extract_demo_blocks(text, "n")
    assert [bool(b.error) for b in every] == [False, True, True]
