"""Publishing a build: staged folders, the probes run on them, the atomic swap-in.

A finished (or early) build is saved to hidden staging folders next to the served ones,
loaded back exactly as the model worker loads them, judged there (probes, samples, the
stored examples re-recorded from these very models) and only then renamed into place, so a
worker reading ``MODELS_DIR/demo/`` sees the old models or the new ones, never half of each.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from inference.training import bert as bert_stage
from inference.training import gpt as gpt_stage

MODEL_NAMES = ("bert", "gpt")


def new_release(stage: str) -> dict:
    """A release id the site shows next to every stored example and result of these models."""
    return {"id": uuid.uuid4().hex[:16], "stage": stage, "published_at": time.time()}


def make_readable(folder: Path) -> None:
    """safetensors writes 0600 files; a worker running as another user must read them."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Loading BertForPreTraining weights into the fill-mask pipeline's BertForMaskedLM
    reports the (expected) unused NSP head; keep the console to our own output."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        hf_logging.enable_progress_bar()


def swap_in(staging: Path, final: Path) -> None:
    """Replace `final` by `staging` with renames, so readers see the old or the new folder."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    staging.rename(final)
    if old.exists():
        shutil.rmtree(old)


def save_staging(root: Path, models: dict, tokenizers: dict) -> dict[str, Path]:
    """Each model with its tokenizer in a hidden folder of `root`, ready to judge and swap."""
    for leftover in [*root.glob(".*.staging-*"), *root.glob(".*.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)  # from a build that died here
    staging = {name: root / f".{name}.staging-{os.getpid()}" for name in MODEL_NAMES}
    with quiet_transformers():
        for name, folder in staging.items():
            models[name].save_pretrained(str(folder))
            tokenizers[name].save_pretrained(str(folder))
    for folder in staging.values():
        make_readable(folder)
    return staging


def swap_all(root: Path, staging: dict[str, Path]) -> None:
    """The staged folders, then their stored examples, into place."""
    for name, path in staging.items():
        swap_in(path, root / name)
    examples = _examples_staging(root)
    if examples.exists():
        examples.replace(root / "examples.json")


def _examples_staging(root: Path) -> Path:
    return root / f".examples.staging-{os.getpid()}.json"


def loaded_runtime(staging: dict[str, Path], encoder_source: Path):
    """The staged folders loaded exactly as the worker loads them, plus the encoder."""
    from inference.contract.registry import ModelSpec
    from inference.worker.loading import load_role
    from inference.worker.runtime import Runtime

    def spec(role: str, name: str, folder: Path) -> ModelSpec:
        return ModelSpec(role, name, str(folder), None, "float32", Path(folder))

    roles = {
        "bert": load_role(spec("bert", "demo BERT", staging["bert"]), device="cpu"),
        "gpt": load_role(spec("gpt", "demo GPT", staging["gpt"]), device="cpu"),
        "encoder": load_role(spec("encoder", "all-MiniLM-L6-v2", encoder_source), device="cpu"),
    }
    return Runtime(profile="demo", device="cpu", roles=roles)


def judge(
    staging: dict[str, Path],
    heldout: dict,
    *,
    release: dict,
    encoder_source: Path,
    lessons_dir: Path | None,
    record_examples: bool,
    log: Callable[[str], None],
) -> dict:
    """Probes, samples and (with `record_examples`) the stored examples, all from the staged
    folders; the examples file swaps in with them, so the examples shown are the served
    build's own."""
    from inference.training.evaluate import evaluate_roles, targets_met

    with quiet_transformers():
        runtime = loaded_runtime(staging, encoder_source)
        log("Running the probes ...")
        report = evaluate_roles(runtime.bert, runtime.gpt, runtime.encoder)
        samples = {
            "bert": bert_stage.fill_mask_samples(staging["bert"]),
            "gpt": gpt_stage.generation_samples(staging["gpt"]),
        }
        if record_examples:
            from inference.worker.recording import record_to_file

            log("Recording the stored examples from these models ...")
            record_to_file(
                runtime,
                _examples_staging(staging["bert"].parent),
                build=release,
                lessons_dir=lessons_dir,
                log=lambda _: None,
            )
    evaluation = {
        "heldout": heldout,
        "probes": report,
        "targets": targets_met(heldout, report),
        "evaluated_at": time.time(),
    }
    return {"evaluation": evaluation, "samples": samples}
