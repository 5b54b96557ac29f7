"""GPT pre-training: causal language modelling (`GPT2LMHeadModel`) on packed text blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass

from inference.training.data import TextBlocks

PROMPTS = (
    "Return the",
    "This function is used to",
    "If the file does not exist,",
    "The default value",
    "When the connection is closed,",
)
SAMPLE_SETTINGS = {"max_new_tokens": 30, "temperature": 0.8, "top_k": 40, "seed": 0}


@dataclass(frozen=True)
class GptSize:
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    max_length: int = 256
    block_size: int = 256
    vocab_size: int = 8192


def build_model(size: GptSize, tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=size.max_length,
        n_embd=size.hidden,
        n_layer=size.layers,
        n_head=size.heads,
        n_inner=size.intermediate,
        # Well under one pass over the corpus: nothing to over-fit, dropout only slows learning.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    # transformers 5 derives the loss from the class name, finds none for "GPT2LMHeadModel",
    # warns and falls back to the causal-LM loss; name that loss ourselves
    model.loss_type = "ForCausalLM"
    model.generation_config.pad_token_id = tokenizer.eos_token_id
    return model


def encode_documents(tokenizer, documents) -> list[list[int]]:
    # whole documents, packed into blocks later: longer than the context is expected here
    return tokenizer([doc.text for doc in documents], verbose=False)["input_ids"]


def make_step(model, blocks: TextBlocks, *, batch_size: int):
    def step(step_number: int, progress: float = 1.0):
        ids = blocks.batch(step_number, batch_size)
        loss = model(input_ids=ids, labels=ids).loss
        return loss, {"loss": loss.item()}

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
