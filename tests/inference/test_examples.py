"""Stored example results: recorded by running the real engines, read back by the pages."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from inference import examples as examples_mod
from inference.examples import (
    example_for_params,
    example_get,
    example_id,
    example_set,
    playground_examples,
    write_example_set,
)
from inference.examples.inputs import CATALOGUE, ExampleInput, example_inputs
from inference.validation import KINDS, validate
from tests.inference import widget_support

stored_examples = widget_support.stored_examples  # the fixture, for this module


def test_inputs_cover_the_catalogue_every_form_and_every_lesson_block(settings):
    inputs = example_inputs()
    sources = {item.source for item in inputs}
    assert {"playground", "form default"} <= sources
    assert {"lesson:bert", "lesson:gpt", "lesson:bert-vs-gpt", "lesson:generation-parameters"} <= (
        sources
    )
    assert {item.kind for item in inputs} == set(KINDS)
    for item in CATALOGUE:
        validate(item.kind, item.params)  # every ready example is a valid input


def test_recording_runs_the_real_engines(stored_examples, tiny_runtime):
    from inference.engine.fill_mask import fill_mask
    from inference.engine.generate import generate

    by_kind = {kind: [e for e in stored_examples.examples if e.kind == kind] for kind in KINDS}
    assert all(by_kind.values())
    example = by_kind["fill-mask"][0]
    again = fill_mask(tiny_runtime.bert, **example.params)
    assert example.result["masks"] == again["masks"]
    seeded = next(e for e in by_kind["generate"] if e.params["do_sample"])
    assert generate(tiny_runtime.gpt, **seeded.params)["token_ids"] == seeded.result["token_ids"]
    for example in stored_examples.examples:
        assert example.id == example_id(example.kind, example.params)
        assert example.profile == "tiny" and example.recorded_at > 0
        assert "tiny" in example.model_names


def test_next_token_examples_keep_the_full_logits(stored_examples):
    example = next(e for e in stored_examples.examples if e.kind == "next-token")
    logits = np.frombuffer(example.logits_bytes(), dtype="<f4")
    assert logits.size == example.result["vocab_size"]
    top = [c["token_id"] for c in example.result["candidates"]]
    assert list(np.argsort(-logits, kind="stable")[: len(top)]) == top
    assert set(top) <= set(example.vocab_map())


def test_the_same_input_recorded_twice_is_stored_once_with_both_sources(stored_examples):
    assert len(stored_examples.examples) == len({e.id for e in stored_examples.examples})
    attention = [e for e in stored_examples.examples if "lesson:bert-vs-gpt" in e.sources]
    # The lesson's attention sentence is also a ready example and the form's default.
    shared = next(e for e in attention if e.kind == "attention")
    assert {"playground", "form default", "lesson:bert-vs-gpt"} <= set(shared.sources)


def test_lookup_by_params_validates_first(stored_examples):
    fill = next(
        e
        for e in stored_examples.examples
        if e.params.get("text") == "The capital of France is [MASK]."
    )
    assert example_for_params("fill-mask", {"text": " The capital of France is [mask]. "}) == fill
    assert example_for_params("fill-mask", {"text": fill.params["text"], "top_k": "5"}) == fill
    greedy = next(
        e
        for e in stored_examples.examples
        if e.kind == "generate"
        and not e.params["do_sample"]
        and e.params["prompt"] == "Once upon a time"
        and e.params["max_new_tokens"] == 20
    )
    # Greedy decoding ignores the sampling knobs, so they don't change the lookup.
    assert (
        example_for_params("generate", {"prompt": "Once upon a time", "temperature": "3"}) == greedy
    )
    assert example_for_params("fill-mask", {"text": "no mask"}) is None
    assert example_for_params("fill-mask", {"text": "Never [MASK] recorded."}) is None
    assert example_get("../x") is None and example_get(fill.id) == fill


def test_playground_chips_are_the_catalogue_examples(stored_examples):
    titles = [e.title for e in playground_examples("fill-mask")]
    assert titles == [i.title for i in CATALOGUE if i.kind == "fill-mask"]


def test_the_active_profile_file_wins_then_demo_then_full(settings, tmp_path):
    settings.DEMO_EXAMPLES_DIR = tmp_path
    settings.INFERENCE_PROFILE = "tiny"
    one = examples_mod.StoredExample(
        id=example_id("tokenize", {"text": "a"}), kind="tokenize", title="A",
        params={"text": "a"}, result={"text": "a"}, recorded_at=1.0, profile="demo",
    )  # fmt: skip
    assert example_set() is None
    write_example_set(tmp_path / "full.json", profile="full", examples=[one])
    assert example_set().profile == "full"
    write_example_set(tmp_path / "demo.json", profile="demo", examples=[one])
    assert example_set().profile == "demo"
    write_example_set(tmp_path / "tiny.json", profile="tiny", examples=[one])
    assert example_set().profile == "tiny"
    lines = (tmp_path / "tiny.json").read_text().splitlines()
    assert len(lines) == 3 and json.loads("".join(lines))["examples"][0]["title"] == "A"


@pytest.mark.parametrize(
    "content",
    [
        "{broken",
        "[]",
        '{"format": 99, "examples": []}',
        '{"format": 1, "examples": [{"kind": "poetry"}]}',
    ],
)
def test_unreadable_files_mean_no_examples(settings, tmp_path, content):
    settings.DEMO_EXAMPLES_DIR = tmp_path
    settings.INFERENCE_PROFILE = "tiny"
    (tmp_path / "tiny.json").write_text(content)
    assert example_set() is None


def test_record_examples_refuses_a_profile_that_is_not_built(tmp_path):
    with pytest.raises(CommandError, match="Build them first"):
        call_command(
            "record_examples", "--profile", "tiny", "--models-dir", str(tmp_path),
            "--output", str(tmp_path),
        )  # fmt: skip


def test_recording_skips_inputs_a_model_cannot_take(tiny_runtime):
    from inference.examples.recording import record

    inputs = [
        ExampleInput("tokenize", "ok", {"text": "hello"}),
        ExampleInput("embeddings", "bad", {"word": "x", "sentence_a": "x", "sentence_b": "y"}),
        ExampleInput("fill-mask", "no mask", {"text": "nothing"}),
    ]
    recorded, skipped = record(tiny_runtime, inputs, log=lambda _m: None, clock=lambda: 5.0)
    assert [e.title for e in recorded] == ["ok"] and recorded[0].recorded_at == 5.0
    assert len(skipped) == 2 and "doesn't contain the word" in skipped[0]
