"""Load one model role from its local folder, offline, ready for inference.

torch and transformers are imported inside functions only, so importing this module is
cheap and the web process never pulls them in.

- ``bert``: ``BertForPreTraining`` when the checkpoint has next-sentence weights (so both
  the MLM and NSP heads are there), else ``AutoModelForMaskedLM`` (next-sentence then
  reports "unavailable").
- ``gpt``: ``AutoModelForCausalLM``.
- ``encoder``: ``AutoModel``; the engine mean-pools and L2-normalises its last hidden state,
  as sentence-transformers does for all-MiniLM-L6-v2.

BERT and GPT load with ``attn_implementation="eager"`` so they can return attentions.
Device: CUDA when available (float16 unless the spec pins a dtype), else CPU float32.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.contract.registry import ModelSpec

logger = logging.getLogger(__name__)

NSP_KEY = "cls.seq_relationship.weight"


class ModelsMissing(RuntimeError):
    """The profile's model folders aren't there (yet)."""


@dataclass
class Loaded:
    """A loaded role: model + tokenizer + the info shown to learners."""

    spec: ModelSpec
    model: Any
    tokenizer: Any
    info: dict
    device: str
    has_nsp: bool = False
    # Fast tokenizers mutate their padding/truncation state on each call, and a Rust
    # tokenizer borrowed mutably by one thread raises "Already borrowed" in another that
    # decodes at the same time. Tokenizing and decoding are quick, so the engines hold this
    # (re-entrant) lock around every tokenizer use; the models themselves run unlocked.
    tokenizer_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def tokenize(self, *args: Any, **kwargs: Any) -> Any:
        with self.tokenizer_lock:
            return self.tokenizer(*args, **kwargs)


def set_offline_env() -> None:
    """Never touch the network from a worker: set before transformers is imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def choose_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def configure_threads(*, workers_per_machine: int | None = None) -> int:
    """Share the CPU cores between the model workers on this machine.

    ``TORCH_THREADS`` overrides; otherwise ``cpu_count // INFERENCE_WORKERS_PER_MACHINE``.
    """
    import torch

    override = os.environ.get("TORCH_THREADS")
    if override:
        threads = max(1, int(override))
    else:
        if workers_per_machine is None:
            workers_per_machine = int(os.environ.get("INFERENCE_WORKERS_PER_MACHINE", "1") or 1)
        threads = max(1, (os.cpu_count() or 1) // max(1, workers_per_machine))
    torch.set_num_threads(threads)
    return threads


def _torch_dtype(spec_dtype: str, device: str):
    import torch

    if spec_dtype == "float16":
        return torch.float16
    if spec_dtype == "float32":
        return torch.float32
    return torch.float16 if device.startswith("cuda") else torch.float32


def _checkpoint_has_nsp(folder: Path) -> bool | None:
    """Read the safetensors header (no weights) to see whether NSP weights are saved."""
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(str(single), framework="pt") as handle:
            return NSP_KEY in set(handle.keys())  # noqa: SIM118 - safe_open has no __contains__
    if index.is_file():
        return NSP_KEY in json.loads(index.read_text()).get("weight_map", {})
    return None  # e.g. pytorch_model.bin only: find out while loading


def _model_type(folder: Path) -> str:
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type", "")
    except (OSError, ValueError):
        return ""


def count_parameters(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def load_role(spec: ModelSpec, *, device: str, profile: str = "") -> Loaded:
    """Load ``spec`` from its local folder onto ``device`` (offline)."""
    set_offline_env()
    from transformers import (
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoTokenizer,
        BertForPreTraining,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = spec.path
    if not spec.is_present():
        raise ModelsMissing(f"No {spec.role} model in {folder}.")
    dtype = _torch_dtype(spec.dtype, device)
    common: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
    has_nsp = False

    if spec.role == "bert":
        nsp = _checkpoint_has_nsp(folder) if _model_type(folder) == "bert" else False
        model = None
        if nsp is not False and _model_type(folder) == "bert":
            model, loading_info = BertForPreTraining.from_pretrained(
                folder, attn_implementation="eager", output_loading_info=True, **common
            )
            if NSP_KEY in set(loading_info.get("missing_keys", ())):
                model = None  # random NSP head: don't pretend
            else:
                has_nsp = True
        if model is None:
            model = AutoModelForMaskedLM.from_pretrained(
                folder, attn_implementation="eager", **common
            )
    elif spec.role == "gpt":
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", **common)
    elif spec.role == "encoder":
        model = AutoModel.from_pretrained(folder, **common)
    else:
        raise ValueError(f"Unknown model role {spec.role!r}")

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if spec.role == "gpt" and tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    info = {
        "role": spec.role,
        "name": spec.name,
        "parameters": count_parameters(model),
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "profile": profile,
    }
    logger.info(
        "Loaded %s model %s (%s parameters) on %s", spec.role, spec.name, info["parameters"], device
    )
    return Loaded(
        spec=spec, model=model, tokenizer=tokenizer, info=info, device=device, has_nsp=has_nsp
    )
