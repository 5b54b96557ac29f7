"""GPT pre-training: causal language modelling, on BERT's twin network.

GPT-1 and BERT-base have the same shape (BERT-base was sized to match GPT-1); what makes one
a GPT is the causal mask (each position sees only itself and what came before) and the
objective (predict the next token). The demo GPT makes that point literally: it starts
from the same all-MiniLM-L6-v2 weights as the demo BERT, loaded as `BertLMHeadModel` with
`is_decoder=True` (transformers then applies the causal mask in every self-attention
layer), and is trained to predict the next WordPiece token of the everyday corpus. Its
tokenizer is the same vocabulary with a causal template (`[CLS] text`, `[SEP]` as end of
text; see tokenizers.py).

Measured against the previous recipe, a from-scratch `GPT2LMHeadModel` (4 layers, hidden
256, byte-level BPE) given the same 200 s on the same corpus and machine: held-out loss
5.43 against 5.28 nats per token, although WordPiece tokens are longer than the small BPE's,
and the from-scratch model's greedy text was a loop ("a (especially a (especially ...") for
every prompt (`build_demo_models` notes, 2026-12-04).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from inference.training.data import TextBlocks

PROMPTS = (
    "Once upon a time",
    "The cat sat on the",
    "My favourite food is",
    "A good friend is someone who",
    "If you want to bake bread,",
)
SAMPLE_SETTINGS = {"max_new_tokens": 30, "temperature": 0.8, "top_k": 40, "seed": 0}


@dataclass(frozen=True)
class GptSize:
    layers: int | None = None  # None: all of MiniLM's 6; the quick build keeps 2
    frozen_layers: int = 1  # lowest layers kept as they are (embeddings always are)
    max_length: int = 128  # longest prompt + continuation the demos allow
    block_size: int = 64  # training window ([CLS] + 63 tokens)
    # Keep only this many of the 30,522 WordPiece entries (every character plus the pieces
    # most frequent in the corpus): the output layer scores every entry at every position,
    # and at full size it is most of a step's cost. None keeps them all.
    vocab_size: int | None = 12_000
    # Weight of the token-level unlikelihood term (see `unlikelihood_loss`); 0 = plain LM.
    unlikelihood: float = 1.0


def build_model(size: GptSize, source: Path, tokenizer, *, keep: list[int] | None = None):
    """MiniLM's network as a causal LM (`BertLMHeadModel`, `is_decoder=True`); with `keep`,
    only those rows of the vocabulary (see tokenizers.frequent_vocabulary)."""
    from transformers import BertLMHeadModel
    from transformers.utils import logging as hf_logging

    from inference.training.bert import freeze_lower

    extra = {} if size.layers is None else {"num_hidden_layers": size.layers}
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the (expected) new LM head
    try:
        model = BertLMHeadModel.from_pretrained(
            str(source),
            local_files_only=True,
            is_decoder=True,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **extra,
        )
    finally:
        hf_logging.set_verbosity(previous)
    if keep is not None:
        model = _keep_rows(model, keep)
    model.loss_type = "ForCausalLM"
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    freeze_lower(model.bert, size.frozen_layers)
    return model


def _keep_rows(model, keep: list[int]):
    """The same network with a vocabulary of the `keep` rows (embeddings, decoder, bias)."""
    import copy

    import torch
    from transformers import BertLMHeadModel

    config = copy.deepcopy(model.config)
    old_size = config.vocab_size
    config.vocab_size = len(keep)
    index = torch.tensor(keep)
    state = {
        key: value[index] if value.shape[:1] == (old_size,) else value
        for key, value in model.state_dict().items()
    }
    smaller = BertLMHeadModel(config)
    smaller.load_state_dict(state)
    smaller.tie_weights()
    smaller.generation_config = model.generation_config
    return smaller


def context_length(model) -> int:
    config = model.config
    return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def eos_id(tokenizer) -> int:
    return int(tokenizer.eos_token_id)


def bos_id(tokenizer) -> int | None:
    """The token every prompt starts with ([CLS] for the demo GPT; none for GPT-2)."""
    encoded = tokenizer("a")["input_ids"]
    bos = tokenizer.bos_token_id
    return int(bos) if bos is not None and encoded and encoded[0] == bos else None


def gpt_text(document) -> str:
    """What GPT reads of a document: its example sentences and quotations, no definitions."""
    from inference.training.wordnet import DEFINITION

    kinds = document.kinds or (None,) * len(document.sentences)
    return " ".join(s for s, k in zip(document.sentences, kinds, strict=True) if k != DEFINITION)


DOCUMENTS_PER_TEXT = 32


def gpt_texts(documents) -> list[str]:
    """Running texts for GPT: the example sentences of `DOCUMENTS_PER_TEXT` neighbouring
    documents of one source joined into one text, with end-of-text only between texts.
    WordNet's documents are short runs of related senses, often one example sentence; with
    an end-of-text after each, the first GPT learnt to stop after every full stop and its
    greedy continuations were one short sentence ("The cat sat on the" -> "table.")."""
    texts, current, source = [], [], None
    for document in documents:
        text = gpt_text(document)
        if not text:
            continue
        if current and (document.source != source or len(current) >= DOCUMENTS_PER_TEXT):
            texts.append(" ".join(current))
            current = []
        current.append(text)
        source = document.source
    if current:
        texts.append(" ".join(current))
    return texts


def encode_documents(tokenizer, documents) -> list[list[int]]:
    # running texts, packed into blocks later: longer than the context is expected here
    return tokenizer(gpt_texts(documents), add_special_tokens=False, verbose=False)["input_ids"]


def unlikelihood_loss(logits, ids):
    """Token-level unlikelihood (Welleck et al., 2019, "Neural text generation with
    unlikelihood training"): at each position, -sum log(1 - p(c)) over the tokens c that
    already occurred earlier in the block (the right next token excepted), averaged over
    positions. It makes repeating the context expensive, which is how a small language
    model's greedy text falls into loops ("the sun is the sun. the sun is the sun.").

    `logits` [batch, length, vocab] predict `ids[:, 1:]` from `ids[:, :length]`."""
    import torch

    batch, length, vocab = logits.shape
    probs = logits.float().softmax(dim=-1)
    seen = torch.zeros(batch, length, vocab, device=logits.device)
    seen.scatter_(2, ids[:, :length].unsqueeze(-1), 1.0)
    seen = seen.cumsum(dim=1) > 0  # token v occurred at or before this position
    seen.scatter_(2, ids[:, 1 : length + 1].unsqueeze(-1), False)  # the right answer isn't
    penalty = -torch.log((1.0 - probs).clamp_min(1e-5)) * seen
    return penalty.sum(dim=-1).mean()


def make_step(model, blocks: TextBlocks, *, batch_size: int, unlikelihood: float = 0.0):
    """Causal-LM loss (next-token cross-entropy; "loss" in the curve), plus `unlikelihood`
    times the unlikelihood term when it is set."""
    import torch.nn.functional as F  # noqa: N812

    def step(step_number: int, progress: float = 1.0):
        ids = blocks.batch(step_number, batch_size)
        logits = model(input_ids=ids).logits[:, :-1]
        lm = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        if not unlikelihood:
            return lm, {"loss": lm.item()}
        ul = unlikelihood_loss(logits, ids)
        return lm + unlikelihood * ul, {"loss": lm.item(), "unlikelihood_loss": ul.item()}

    return step


def evaluate(model, blocks: TextBlocks, *, max_blocks: int, batch_size: int = 16) -> dict:
    """Held-out perplexity: exp of the mean next-token loss over held-out blocks."""
    import torch

    model.eval()
    total, tokens = 0.0, 0
    data = torch.from_numpy(blocks.blocks[:max_blocks])
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            ids = data[start : start + batch_size]
            loss = model(input_ids=ids, labels=ids).loss
            n = ids.shape[0] * (ids.shape[1] - 1)
            total += float(loss) * n
            tokens += n
    mean = total / max(1, tokens)
    return {
        "heldout_tokens": tokens,
        "heldout_loss": round(mean, 4),
        "heldout_perplexity": round(math.exp(mean), 2),
    }


def generation_samples(folder) -> list[dict]:
    """Greedy and sampled continuations, through `pipeline("text-generation")` on the folder."""
    import torch
    from transformers import pipeline

    generate = pipeline("text-generation", model=str(folder), tokenizer=str(folder), device="cpu")
    n = SAMPLE_SETTINGS["max_new_tokens"]
    samples = []
    for index, prompt in enumerate(PROMPTS):
        greedy = generate(prompt, max_new_tokens=n, do_sample=False, return_full_text=False)
        torch.manual_seed(SAMPLE_SETTINGS["seed"] + index)
        sampled = generate(
            prompt,
            max_new_tokens=n,
            do_sample=True,
            temperature=SAMPLE_SETTINGS["temperature"],
            top_k=SAMPLE_SETTINGS["top_k"],
            return_full_text=False,
        )
        samples.append(
            {
                "prompt": prompt,
                "greedy": greedy[0]["generated_text"],
                "sampled": sampled[0]["generated_text"],
            }
        )
    return samples
