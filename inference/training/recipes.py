"""What the build trains: model sizes, batch sizes, learning rates, time split.

`FULL` is the real build (about 12 minutes on two CPU cores); `QUICK` runs the whole path
in seconds with tiny models and a corpus slice (tests and smoke checks).
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.training import bert as bert_stage
from inference.training import corpus as corpus_mod
from inference.training import gpt as gpt_stage


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what gets trained. `quick` is the seconds-long test recipe."""

    mode: str
    bert: bert_stage.BertSize
    gpt: gpt_stage.GptSize
    bert_batch: int
    gpt_batch: int
    bert_lr: float
    gpt_lr: float
    warmup_steps: int
    bert_share: float  # of the training time
    max_steps: int | None
    corpus_max_files: int | None
    corpus_max_chars: int | None
    holdout_percent: int
    bert_eval_pairs: int
    gpt_eval_blocks: int
    checkpoint_seconds: float
    reserve_seconds: float  # kept for eval + saving


FULL = Recipe(
    mode="full",
    bert=bert_stage.BertSize(),
    gpt=gpt_stage.GptSize(),
    bert_batch=32,
    gpt_batch=8,
    bert_lr=1e-3,
    gpt_lr=1e-3,
    warmup_steps=40,
    bert_share=0.55,  # MLM learns from 15% of tokens and needs more steps than GPT
    max_steps=None,
    corpus_max_files=None,
    corpus_max_chars=None,
    holdout_percent=corpus_mod.HOLDOUT_PERCENT,
    bert_eval_pairs=500,
    gpt_eval_blocks=80,
    checkpoint_seconds=60.0,
    reserve_seconds=60.0,
)
QUICK = Recipe(
    mode="quick",
    bert=bert_stage.BertSize(
        layers=2, hidden=64, heads=2, intermediate=128, max_length=64, vocab_size=800
    ),
    gpt=gpt_stage.GptSize(
        layers=2, hidden=64, heads=2, intermediate=128, max_length=64, block_size=64, vocab_size=800
    ),
    bert_batch=8,
    gpt_batch=8,
    bert_lr=1e-3,
    gpt_lr=1e-3,
    warmup_steps=2,
    bert_share=0.5,
    max_steps=8,
    corpus_max_files=3,
    corpus_max_chars=60_000,
    holdout_percent=10,
    bert_eval_pairs=16,
    gpt_eval_blocks=4,
    checkpoint_seconds=0.0,
    reserve_seconds=0.0,
)
