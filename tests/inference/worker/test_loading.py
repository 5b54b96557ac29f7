from __future__ import annotations

import os

import pytest

from inference.contract.registry import ModelSpec
from inference.worker.loading import ModelsMissing, load_role


def test_roles_load_with_the_right_heads_and_info(tiny_runtime):
    from transformers import BertForPreTraining

    bert, gpt, encoder = tiny_runtime.bert, tiny_runtime.gpt, tiny_runtime.encoder
    assert isinstance(bert.model, BertForPreTraining)
    assert bert.has_nsp is True
    assert gpt.model.config.model_type == "gpt2"
    assert encoder.model.config.model_type == "bert"
    for loaded in (bert, gpt, encoder):
        assert set(loaded.info) == {"role", "name", "parameters", "device", "dtype", "profile"}
        assert loaded.info["device"] == "cpu"
        assert loaded.info["dtype"] == "float32"
        assert loaded.info["parameters"] == sum(p.numel() for p in loaded.model.parameters())
        assert not loaded.model.training
    assert bert.model.config._attn_implementation == "eager"
    assert gpt.model.config._attn_implementation == "eager"
    assert gpt.tokenizer.pad_token_id is not None


def test_loading_is_offline(tiny_runtime):
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_missing_folder_raises_models_missing(tmp_path):
    spec = ModelSpec(
        role="gpt",
        name="x",
        source=str(tmp_path / "nope"),
        revision=None,
        dtype="auto",
        local_dir=tmp_path / "nope",
    )
    with pytest.raises(ModelsMissing):
        load_role(spec, device="cpu")


def test_runtime_models_info_for_the_heartbeat(tiny_runtime):
    info = tiny_runtime.models_info()
    assert set(info) == {"bert", "gpt", "encoder"}
    assert set(info["gpt"]) == {"name", "parameters", "device", "dtype"}


def test_warm_up_runs(tiny_runtime):
    tiny_runtime.warm_up()


def test_dtype_and_threads_choices(monkeypatch):
    import torch

    from inference.worker.loading import _torch_dtype, configure_threads

    assert _torch_dtype("auto", "cuda") == torch.float16
    assert _torch_dtype("auto", "cpu") == torch.float32
    assert _torch_dtype("float32", "cuda") == torch.float32
    assert _torch_dtype("float16", "cpu") == torch.float16

    previous = torch.get_num_threads()
    try:
        monkeypatch.setenv("TORCH_THREADS", "1")
        assert configure_threads() == 1
        assert torch.get_num_threads() == 1
        monkeypatch.delenv("TORCH_THREADS")
        monkeypatch.setattr(os, "cpu_count", lambda: 8)
        assert configure_threads(workers_per_machine=2) == 4
        assert configure_threads(workers_per_machine=16) == 1
    finally:
        torch.set_num_threads(previous)
