"""Stored example results: recorded by running the real engines, read back by the pages."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from inference.contract import examples as examples_mod
from inference.contract import kinds
from inference.contract.examples import (
    build_examples_path,
    example_for_params,
    example_get,
    example_id,
    example_set,
    example_set_version,
    playground_examples,
    write_example_set,
)
from inference.contract.examples.builds import demo_build
from inference.contract.examples.inputs import CATALOGUE, ExampleInput, example_inputs
from tests.inference import widget_support
from tests.inference.widget_support import SHIPPED_DEMO, serve_demo_build

stored_examples = widget_support.stored_examples  # the fixture, for this module


@pytest.fixture(autouse=True)
def _no_local_demo_build(settings, tmp_path_factory):
    """A demo build made on this machine (var/models/demo/examples.json) must not leak in;
    tests that need one write their own."""
    settings.MODELS_DIR = tmp_path_factory.mktemp("models")


def test_inputs_cover_the_catalogue_every_form_and_every_lesson_block(settings):
    inputs = example_inputs()
    sources = {item.source for item in inputs}
    assert {"playground", "form default"} <= sources
    assert {"lesson:bert", "lesson:gpt", "lesson:bert-vs-gpt", "lesson:generation-parameters"} <= (
        sources
    )
    assert {item.kind for item in inputs} == set(kinds.names())
    for item in CATALOGUE:
        kinds.validate(item.kind, item.params)  # every ready example is a valid input


def test_recording_runs_the_real_engines(stored_examples, tiny_runtime):
    from inference.worker.engine.fill_mask import fill_mask
    from inference.worker.engine.generate import generate

    by_kind = {
        kind: [e for e in stored_examples.examples if e.kind == kind] for kind in kinds.names()
    }
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
    settings.MODELS_DIR = tmp_path / "models"  # no demo build's own examples.json
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
    from inference.worker.recording import record

    inputs = [
        ExampleInput("tokenize", "ok", {"text": "hello"}),
        ExampleInput("embeddings", "bad", {"word": "x", "sentence_a": "x", "sentence_b": "y"}),
        ExampleInput("fill-mask", "no mask", {"text": "nothing"}),
    ]
    recorded, skipped = record(tiny_runtime, inputs, log=lambda _m: None, clock=lambda: 5.0)
    assert [e.title for e in recorded] == ["ok"] and recorded[0].recorded_at == 5.0
    assert len(skipped) == 2 and "doesn't contain the word" in skipped[0]


# --- Which build an examples file was recorded with --------------------------------------


def _example(text: str = "a") -> examples_mod.StoredExample:
    params = {"text": text}
    return examples_mod.StoredExample(
        id=example_id("tokenize", params), kind="tokenize", title=text, params=params,
        result={"text": text}, recorded_at=1.0, profile="demo",
    )  # fmt: skip


def _stamp(path: Path, when: int) -> None:
    """A distinct modification time (a rewrite within one clock tick may keep the old one)."""
    os.utime(path, ns=(when, when))


@pytest.fixture
def demo_dirs(settings, tmp_path):
    """The demo profile served from ``tmp/models``, shipped examples in ``tmp/shipped``."""
    settings.INFERENCE_PROFILE = "demo"
    settings.MODELS_DIR = tmp_path / "models"
    settings.DEMO_EXAMPLES_DIR = tmp_path / "shipped"
    return tmp_path / "models", tmp_path / "shipped" / "demo.json"


def test_the_build_header_round_trips(settings, tmp_path):
    settings.DEMO_EXAMPLES_DIR = tmp_path
    settings.INFERENCE_PROFILE = "tiny"
    path = tmp_path / "tiny.json"
    build = {"id": "9f2c", "stage": "early", "published_at": 1_800_000_000.25, "other": "x"}
    write_example_set(path, profile="tiny", examples=[_example("a"), _example("b")], build=build)
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and '"build":' in lines[0]
    expected = {"id": "9f2c", "stage": "early", "published_at": 1_800_000_000.25}
    assert json.loads("".join(lines))["build"] == expected
    loaded = example_set()
    assert loaded.build == expected and loaded.build_id == "9f2c"
    assert [e.title for e in loaded.examples] == ["a", "b"]

    write_example_set(path, profile="tiny", examples=[_example()])
    _stamp(path, 2)
    assert "build" not in json.loads(path.read_text()) and example_set().build is None
    with pytest.raises(ValueError, match="needs an id"):
        write_example_set(path, profile="tiny", examples=[_example()], build={"stage": "final"})


def test_the_served_demo_build_comes_from_training_json(tmp_path):
    assert demo_build(tmp_path) is None
    serve_demo_build(tmp_path, "c0ffee", built_at=1_800_000_000.5)
    assert demo_build(tmp_path) == {
        "id": "c0ffee", "stage": "final", "published_at": 1_800_000_000.5,
        "built_at": 1_800_000_000.5,
    }  # fmt: skip
    serve_demo_build(tmp_path, None, built_at=1_700_000_000.125, when=2)  # an older build
    assert demo_build(tmp_path)["id"] == "1700000000.125"
    (tmp_path / "demo" / "training.json").write_text("{half")
    _stamp(tmp_path / "demo" / "training.json", 3)
    assert demo_build(tmp_path) is None


def test_the_file_recorded_with_the_served_build_is_shown_plainly(demo_dirs):
    models, shipped = demo_dirs
    build_file = build_examples_path()
    assert build_file == models / "demo" / "examples.json"
    write_example_set(shipped, profile="demo", examples=[_example("old")], build={"id": "old"})
    # No demo build served yet: nothing to contradict.
    assert example_set().path == shipped and not example_set().earlier_build

    write_example_set(build_file, profile="demo", examples=[_example("new")], build={"id": "new"})
    serve_demo_build(models, "new")
    shown = example_set()
    assert shown.path == build_file and not shown.earlier_build
    assert not any(e.earlier_build for e in shown.examples)

    serve_demo_build(models, "old", when=2)  # the shipped file is the served build's
    assert example_set().path == shipped and not example_set().earlier_build


def test_a_file_from_another_build_than_the_served_one_is_marked(demo_dirs):
    models, shipped = demo_dirs
    write_example_set(shipped, profile="demo", examples=[_example("old")], build={"id": "old"})
    write_example_set(
        build_examples_path(), profile="demo", examples=[_example("new")], build={"id": "new"}
    )
    serve_demo_build(models, "newer")  # published again, its examples not recorded yet
    shown = example_set()
    assert shown.path == build_examples_path() and shown.earlier_build
    assert all(e.earlier_build for e in shown.examples)
    assert example_get(example_id("tokenize", {"text": "new"})).earlier_build
    assert example_for_params("tokenize", {"text": "new"}).earlier_build


def test_the_shipped_file_is_marked_once_another_build_is_served(demo_dirs):
    models, shipped = demo_dirs
    shipped.parent.mkdir(parents=True)
    shutil.copy(SHIPPED_DEMO, shipped)
    # the shipped examples name the reference build they were recorded with
    assert example_set().build["stage"] == "final" and not example_set().earlier_build
    serve_demo_build(models, None)  # even a build from before releases
    assert example_set().path == shipped and example_set().earlier_build


def test_other_profiles_are_never_marked(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.DEMO_EXAMPLES_DIR = tmp_path
    serve_demo_build(tmp_path / "models", "served")
    settings.INFERENCE_PROFILE = "tiny"
    write_example_set(tmp_path / "tiny.json", profile="tiny", examples=[_example()])
    assert example_set().profile == "tiny" and not example_set().earlier_build
    # The full profile serves the demos: the demo file it falls back on names its models,
    # and no demo build is being served to contradict it.
    settings.INFERENCE_PROFILE = "full"
    write_example_set(tmp_path / "demo.json", profile="demo", examples=[_example()])
    assert example_set().profile == "demo" and not example_set().earlier_build


def test_the_version_changes_with_the_shown_file_and_the_served_build(demo_dirs):
    models, shipped = demo_dirs
    assert example_set_version() is None
    write_example_set(shipped, profile="demo", examples=[_example()], build={"id": "a"})
    _stamp(shipped, 10)
    serve_demo_build(models, "a")
    first = example_set_version()
    assert first == example_set_version()  # steady while nothing changes: caches hit
    serve_demo_build(models, "b", when=2)  # same file, now from an earlier build
    published = example_set_version()
    assert published != first and example_set().earlier_build
    write_example_set(
        build_examples_path(), profile="demo", examples=[_example()], build={"id": "b"}
    )
    _stamp(build_examples_path(), 10)
    recorded = example_set_version()
    assert recorded not in (first, published) and not example_set().earlier_build
    _stamp(build_examples_path(), 20)  # re-recorded
    assert example_set_version() not in (first, published, recorded)


def test_record_to_file_writes_the_examples_with_their_build(tiny_runtime, tmp_path, settings):
    from inference.worker.recording import record_to_file

    settings.DEMO_EXAMPLES_DIR = tmp_path / "none"
    no_lessons = tmp_path / "lessons"
    no_lessons.mkdir()
    out = tmp_path / "demo" / "examples.json"
    logged: list[str] = []
    with pytest.raises(ValueError, match="id"):
        record_to_file(tiny_runtime, out, build={"stage": "final"}, lessons_dir=no_lessons)
    assert not out.exists()

    build = {"id": "b7", "stage": "early", "published_at": 1_800_000_000.0}
    written = record_to_file(
        tiny_runtime, out, build=build, lessons_dir=no_lessons, log=logged.append
    )
    loaded = examples_mod._read(str(out), out.stat().st_mtime_ns)
    assert written == len(loaded.examples) == len({e.id for e in loaded.examples}) > 0
    assert loaded.build == build and loaded.profile == "tiny"
    assert {e.kind for e in loaded.examples} == set(kinds.names())
    assert not any(e.sources[0].startswith("lesson:") for e in loaded.examples)
    assert len(logged) >= written


def test_record_examples_names_the_demo_build_its_models_came_from(
    tiny_runtime, tmp_path, monkeypatch
):
    from dataclasses import replace

    from inference.worker import runtime as runtime_mod

    as_demo = replace(tiny_runtime, profile="demo")  # the tiny models standing in for demo
    models, out, no_lessons = tmp_path / "models", tmp_path / "out", tmp_path / "lessons"
    no_lessons.mkdir()
    serve_demo_build(models, "r1")
    monkeypatch.setattr(runtime_mod, "load_runtime", lambda **_kw: as_demo)
    monkeypatch.setattr(runtime_mod, "reset_runtime", lambda: None)
    args = (
        "record_examples", "--profile", "demo", "--models-dir", str(models),
        "--output", str(out), "--lessons", str(no_lessons),
    )  # fmt: skip
    call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    header = json.loads((out / "demo.json").read_text())
    assert header["profile"] == "demo" and header["build"]["id"] == "r1"

    def publish_while_loading(**_kw):
        serve_demo_build(models, "r2", when=2)
        return as_demo

    monkeypatch.setattr(runtime_mod, "load_runtime", publish_while_loading)
    with pytest.raises(CommandError, match="published again"):
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
