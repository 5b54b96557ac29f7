from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from inference import runtime
from inference.engine import attention, fill_mask, generate, next_token, tokenize
from inference.loading import ModelsMissing


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
