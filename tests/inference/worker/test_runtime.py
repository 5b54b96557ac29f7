from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from inference.worker import runtime
from inference.worker.engine import attention, fill_mask, generate, next_token, tokenize
from inference.worker.loading import ModelsMissing
from tests.inference.conftest import publish_demo


def test_get_runtime_loads_once_even_when_threads_race(tiny_settings, monkeypatch):
    saved = runtime._runtime
    calls = []
    real_load_role = runtime.load_role

    def counting_load_role(spec, **kwargs):
        calls.append(spec.role)
        return real_load_role(spec, **kwargs)

    monkeypatch.setattr(runtime, "load_role", counting_load_role)
    runtime.reset_runtime()
    try:
        barrier = threading.Barrier(4)

        def get():
            barrier.wait()
            return runtime.get_runtime()

        with ThreadPoolExecutor(4) as pool:
            loaded = list(pool.map(lambda _: get(), range(4)))
        assert all(r is loaded[0] for r in loaded)
        assert sorted(calls) == ["bert", "encoder", "gpt"]
        assert loaded[0].profile == "tiny"
    finally:
        runtime._runtime = saved


def test_missing_models_raise_without_caching_a_runtime(settings, tmp_path):
    saved = runtime._runtime
    settings.MODELS_DIR = tmp_path
    settings.INFERENCE_PROFILE = "tiny"
    runtime.reset_runtime()
    try:
        with pytest.raises(ModelsMissing, match="tiny"):
            runtime.get_runtime()
        assert not runtime.is_loaded()
    finally:
        runtime._runtime = saved


def test_concurrent_demos_on_shared_models_match_sequential_results(tiny_runtime):
    """The worker's threads share one copy of each model and tokenizer."""
    rt = tiny_runtime
    jobs = [
        lambda: fill_mask.fill_mask(rt.bert, text="The cat sat on the [MASK].", top_k=5),
        lambda: generate.generate(rt.gpt, prompt="The cat", max_new_tokens=12),
        lambda: generate.generate(rt.gpt, prompt="A dog", max_new_tokens=8, do_sample=True, seed=5),
        lambda: next_token.next_token(rt.gpt, prompt="The quiet river", top_k=5).result,
        lambda: tokenize.tokenize(rt.bert, rt.gpt, text="Unbelievable 🙂 tokens!"),
        lambda: attention.attention(rt.bert, rt.gpt, text="The cat sat."),
    ]

    def strip(result: dict) -> dict:
        result = dict(result)
        result.pop("elapsed_ms", None)
        return result

    expected = [strip(job()) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        rounds = [pool.map(lambda job: strip(job()), jobs * 1) for _ in range(5)]
        results = [list(r) for r in rounds]
    for got in results:
        assert got == expected


# --- Loading new models while the old ones serve ------------------------------------------


def test_a_warm_load_replaces_the_runtime_only_once_the_new_one_is_warm(
    tiny_demo, tiny_models_dir, monkeypatch
):
    old = runtime.load_runtime(profile="demo", device="cpu")
    assert old.release["id"] == "early-1"
    assert old.release["stage"] == "early"
    assert old.release_id == "early-1"

    warmed: list[tuple[runtime.Runtime, runtime.Runtime | None]] = []
    real_warm_up = runtime.Runtime.warm_up

    def recording_warm_up(self):
        warmed.append((self, runtime.get_runtime()))  # who serves while this one warms up
        real_warm_up(self)

    monkeypatch.setattr(runtime.Runtime, "warm_up", recording_warm_up)
    publish_demo(tiny_demo, tiny_models_dir, release_id="final-2", stage="final")
    new = runtime.load_runtime(profile="demo", device="cpu", warm=True)

    assert len(warmed) == 1
    assert warmed[0][0] is new
    assert warmed[0][1] is old
    assert runtime.get_runtime() is new
    assert runtime.current_runtime() is new
    assert all(new.roles[role].model is not old.roles[role].model for role in new.roles)
    assert new.release["id"] == "final-2"
    assert new.release["stage"] == "final"


def test_a_load_without_warm_does_not_warm_up(tiny_demo, monkeypatch):
    warmed = []
    monkeypatch.setattr(runtime.Runtime, "warm_up", lambda self: warmed.append(self))
    runtime.load_runtime(profile="demo", device="cpu")
    assert warmed == []


def test_a_failed_load_keeps_the_runtime_that_serves(tiny_demo, tiny_models_dir):
    old = runtime.load_runtime(profile="demo", device="cpu", warm=True)
    publish_demo(tiny_demo, tiny_models_dir, release_id="final-2", stage="final", break_role="gpt")
    with pytest.raises(Exception) as info:  # noqa: B017 - whatever safetensors raises
        runtime.load_runtime(profile="demo", device="cpu", warm=True)
    assert not isinstance(info.value, ModelsMissing)  # the folder is there, its weights aren't
    assert runtime.get_runtime() is old
    assert old.release_id == "early-1"


def test_only_the_demo_profile_records_a_release(tiny_settings):
    saved = runtime._runtime
    try:
        loaded = runtime.load_runtime(profile="tiny", device="cpu")
        assert loaded.release is None
        assert loaded.release_id is None
    finally:
        runtime._runtime = saved
