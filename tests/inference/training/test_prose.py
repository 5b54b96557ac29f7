"""Running prose out of lesson Markdown (inference/training/prose.py)."""

from __future__ import annotations

from inference.training import prose

LESSON = """\
## Objective 1: masked language modelling

The model hides some of the tokens and predicts them from both sides. The loss is computed
only at the chosen positions.

| Share | Replacement |
| --- | --- |
| 80% | [MASK] |

```python
fill_mask = pipeline("fill-mask", model="google-bert/bert-base-uncased")
```

```demo fill-mask
text: "The capital of France is [MASK]."
```

- A bullet item that is a full sentence about **BERT** and its `[CLS]` vector.
- short
"""


def test_prose_keeps_sentences_and_drops_code_tables_headings_and_demo_blocks():
    sentences = prose.prose_sentences(LESSON)
    assert sentences[:2] == [
        "The model hides some of the tokens and predicts them from both sides.",
        "The loss is computed only at the chosen positions.",
    ]
    joined = " ".join(sentences)
    for fragment in ("Objective 1", "pipeline", "Replacement", "capital of France", "short"):
        assert fragment not in joined


def test_is_prose_sentence_accepts_english_and_rejects_code_urls_and_boilerplate():
    assert prose.is_prose_sentence("Return the number of items in the list.")
    assert prose.is_prose_sentence("If the file does not exist, an error is raised.")
    assert not prose.is_prose_sentence("x = foo(bar_baz, qux=1) if x else y.")
    assert not prose.is_prose_sentence("See https://example.com/docs for the details here.")
    assert not prose.is_prose_sentence("Copyright 2020 the authors, all rights reserved.")
    assert not prose.is_prose_sentence("Die Datei wurde nicht gefunden, über alles größer.")
    assert not prose.is_prose_sentence("return the value")  # not a sentence


def test_clean_markup_keeps_the_words_of_rst_and_markdown():
    text = "Use :func:`os.walk` or ``glob`` to *find* the [files](https://x.org) you need."
    assert prose.clean_markup(text) == "Use os.walk or glob to find the files you need."
    assert prose.is_ascii("plain") and not prose.is_ascii("café")
