"""Dynamic batching: the batcher's gathering, and batched results equal unbatched ones.

No assertion here depends on timing: batch composition is made deterministic with
announcements (``expect``) and barriers, or by holding the consumer inside a batch while
more requests queue up; the gather window is set huge where a test needs every announced
caller in one batch (the consumer stops waiting as soon as they have all submitted).
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from inference.contract import kinds, streams
from inference.contract.validation import DemoInputError
from inference.worker import batcher as batcher_mod
from inference.worker import batching, tasks
from inference.worker.batcher import Batcher, BatcherStopped, BatchTimeout, split_by_length
from inference.worker.engine import embeddings as embeddings_engine
from inference.worker.engine import fill_mask as fill_mask_engine
from inference.worker.engine import next_token as next_token_engine

LONG_WAIT_MS = 60_000  # only ever reached if a test is broken: callers arrive or withdraw

FILL_MASK_CASES = [  # ragged: 1 to 3 masks, 4 to 30-odd tokens, different top-k
    ("[MASK].", 3),
    ("The cat sat on the [MASK].", 5),
    ("The [MASK] read a [MASK] in the garden near the river after the rain.", 2),
    ("A [MASK] [MASK] [MASK].", 4),
    (
        "Every morning my old teacher walks to the market, buys bread and milk, and "
        "then she reads a [MASK] by the window before the children arrive at school.",
        5,
    ),
    ("Hi [MASK]", 1),
]
NEXT_TOKEN_CASES = [
    ("Hi", 5),
    ("The cat", 10),
    ("Once upon a time, in a small village by the", 3),
    ("The quiet river runs past the old mill, and every evening the baker", 20),
    ("A", 1),
    ("My friend and I", 7),
]
EMBEDDINGS_CASES = [
    {"word": "bank", "sentence_a": "The bank.", "sentence_b": "He paid the money into the bank."},
    {
        "word": "river",
        "sentence_a": "She sat on the bank of the river and watched the boats go by slowly.",
        "sentence_b": "A river.",
    },
    {"word": "cat", "sentence_a": "My cat sleeps.", "sentence_b": "The cat sat on the mat."},
    {
        "word": "unbelievable",
        "sentence_a": "An unbelievable story!",
        "sentence_b": "The unbelievable cat",
    },
]


@pytest.fixture
def fresh_batchers(monkeypatch):
    """The worker's batchers, reset, with a huge gather window and no length splitting."""
    monkeypatch.setenv("INFERENCE_BATCHING", "1")
    monkeypatch.setenv("INFERENCE_MAX_BATCH", "16")
    monkeypatch.setenv("INFERENCE_BATCH_WAIT_MS", str(LONG_WAIT_MS))
    monkeypatch.setenv("INFERENCE_BATCH_SPLIT_TOKENS", "1e9")
    batching.shutdown()
    yield
    batching.shutdown()


def together(calls: list, *, announce) -> list:
    """Run ``calls`` in threads that have all announced themselves before any submits.

    Each thread enters ``announce()`` (e.g. ``batching.expecting(kind)``, as the tasks
    do) and then waits for the others, so the batcher gathers every call into one batch.
    Returns each call's result or exception.
    """
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            with announce():
                barrier.wait()
                return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# --- split_by_length -----------------------------------------------------------------


def test_similar_lengths_stay_in_one_batch():
    assert split_by_length([10, 11, 12, 12], overhead=48) == [(0, 4)]
    assert split_by_length([7], overhead=48) == [(0, 1)]
    assert split_by_length([], overhead=48) == []


def test_a_few_long_requests_do_not_pad_many_short_ones():
    lengths = [6] * 8 + [60] * 2
    # together: 48 + 10*60 = 648; apart: 48 + 8*6 + 48 + 2*60 = 264
    assert split_by_length(lengths, overhead=48) == [(0, 8), (8, 10)]
    assert split_by_length(lengths, overhead=1e9) == [(0, 10)]


def test_rows_weigh_the_padding_cost():
    # Two rows per request (embeddings: both sentences) double the padding saved.
    assert split_by_length([10, 40], overhead=40) == [(0, 2)]  # 40+80 < 80+10+40
    assert split_by_length([10, 40], [2, 2], overhead=40) == [(0, 1), (1, 2)]


def test_split_needs_sorted_lengths():
    with pytest.raises(ValueError, match="sorted"):
        split_by_length([5, 3], overhead=1)


# --- The Batcher, with a plain function --------------------------------------------------


class Recorder:
    """A ``run_batch`` that records each batch; it can hold the consumer inside a batch."""

    def __init__(self, func=lambda x: x * 10) -> None:
        self.func = func
        self.batches: list[list] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def hold(self) -> None:
        self.release.clear()

    def __call__(self, items: list) -> list:
        self.batches.append(list(items))
        self.entered.set()
        self.release.wait(30)
        return [self.func(item) for item in items]


@pytest.fixture
def make_batcher():
    made = []

    def make(run_batch, **options):
        options.setdefault("max_batch", 16)
        options.setdefault("max_wait_ms", LONG_WAIT_MS)
        batcher = Batcher("test", run_batch, **options)
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        batcher.stop(5)


def test_a_lone_request_runs_at_once_without_the_gather_wait(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder)  # a 60 s window: taking it would hang this test

    results = []
    for value in range(5):
        with batcher.expect():  # announced, like a task, but nobody else is in flight
            results.append(batcher.run(value))

    assert results == [0, 10, 20, 30, 40]
    stats = batcher.stats()
    assert stats["batches"] == 5
    assert stats["sizes"] == {1: 5}
    assert stats["waits"] == 0
    assert stats["expected"] == 0


def test_announced_concurrent_callers_share_one_batch(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder)

    results = together([lambda v=v: batcher.run(v) for v in range(8)], announce=batcher.expect)

    assert results == [v * 10 for v in range(8)]
    assert [sorted(batch) for batch in recorder.batches] == [list(range(8))]
    stats = batcher.stats()
    assert stats["sizes"] == {8: 1}
    assert stats["items"] == 8
    # (Whether it had to wait depends on how fast the threads got there; when it did, it
    # stopped waiting as soon as the last announced caller submitted: not after 60 s.)
    assert stats["waits"] <= 1


def test_after_a_big_batch_the_consumer_waits_for_its_callers_to_come_back(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder)  # 60 s window: it stops waiting once 4 have gathered
    together([lambda v=v: batcher.run(v) for v in range(4)], announce=batcher.expect)

    # Unannounced requests, one after another from one thread: whenever the consumer
    # takes the first, it waits for as many as the last batch had.
    futures = [batcher.submit(v) for v in range(10, 14)]

    assert [f.result(30) for f in futures] == [100, 110, 120, 130]
    assert [sorted(batch) for batch in recorder.batches] == [[0, 1, 2, 3], [10, 11, 12, 13]]
    assert batcher.stats()["sizes"] == {4: 2}


def test_requests_queued_during_a_batch_form_the_next_one(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder, max_wait_ms=0)
    recorder.hold()
    first = batcher.submit(0)
    assert recorder.entered.wait(10)  # the consumer is inside batch [0]
    later = [batcher.submit(v) for v in range(1, 8)]
    recorder.release.set()

    assert first.result(10) == 0
    assert [f.result(10) for f in later] == [v * 10 for v in range(1, 8)]
    assert recorder.batches == [[0], [1, 2, 3, 4, 5, 6, 7]]
    assert batcher.stats()["sizes"] == {1: 1, 7: 1}


def test_batches_hold_at_most_max_batch(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder, max_batch=3, max_wait_ms=0)
    recorder.hold()
    first = batcher.submit(0)
    assert recorder.entered.wait(10)
    later = [batcher.submit(v) for v in range(1, 8)]
    recorder.release.set()

    assert [f.result(10) for f in [first, *later]] == [v * 10 for v in range(8)]
    assert [len(b) for b in recorder.batches] == [1, 3, 3, 1]


def test_items_with_different_keys_never_share_a_batch(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder, max_wait_ms=0)
    recorder.hold()
    first = batcher.submit(0, key="a")
    assert recorder.entered.wait(10)
    later = [batcher.submit(v, key="a" if v % 2 else "b") for v in range(1, 7)]
    recorder.release.set()

    assert [f.result(10) for f in [first, *later]] == [v * 10 for v in range(7)]
    assert recorder.batches[1:] == [[1, 3, 5], [2, 4, 6]]


def test_requests_are_sorted_and_split_by_length(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder, max_wait_ms=0, split_tokens=48)
    recorder.hold()
    first = batcher.submit("first")
    assert recorder.entered.wait(10)
    lengths = [60, 6, 6, 61, 6, 6, 6, 6, 6, 6]
    later = [batcher.submit(f"len{n}-{i}", length=n) for i, n in enumerate(lengths)]
    recorder.release.set()

    for future in [first, *later]:
        future.result(10)
    short, long = recorder.batches[1:]
    assert sorted(short) == sorted(f"len6-{i}" for i, n in enumerate(lengths) if n == 6)
    assert long == ["len60-0", "len61-3"]


def test_a_failing_batch_is_rerun_one_by_one_so_only_the_culprit_fails(make_batcher):
    def run_batch(items):
        if "bad" in items:
            raise ValueError("the model choked")
        return [f"ok {item}" for item in items]

    batcher = make_batcher(run_batch)
    items = ["a", "bad", "b", "c"]

    results = together([lambda i=i: batcher.run(i) for i in items], announce=batcher.expect)

    assert [results[0], results[2], results[3]] == ["ok a", "ok b", "ok c"]
    assert isinstance(results[1], ValueError) and "choked" in str(results[1])
    stats = batcher.stats()
    assert stats["fallbacks"] == 1
    assert stats["errors"] == 1
    assert stats["sizes"] == {1: 4}


def test_an_error_returned_for_one_item_fails_only_that_item(make_batcher):
    def run_batch(items):
        return [DemoInputError(f"no {item}") if item == "bad" else item.upper() for item in items]

    batcher = make_batcher(run_batch)
    results = together(
        [lambda item=item: batcher.run(item) for item in ["x", "bad", "y"]],
        announce=batcher.expect,
    )
    assert results[0] == "X" and results[2] == "Y"
    assert isinstance(results[1], DemoInputError) and results[1].message == "no bad"
    assert batcher.stats()["sizes"] == {3: 1}
    assert batcher.stats()["fallbacks"] == 0


def test_withdrawn_announcements_are_forgotten(make_batcher):
    batcher = make_batcher(Recorder())
    with pytest.raises(DemoInputError), batcher.expect():
        assert batcher.stats()["expected"] == 1
        raise DemoInputError("invalid input found before submitting")
    assert batcher.stats()["expected"] == 0
    with batcher.expect():  # and a lone caller still runs at once
        assert batcher.run(4) == 40
    assert batcher.stats()["waits"] == 0


def test_a_request_past_its_deadline_times_out_and_is_dropped(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder, max_wait_ms=0)
    recorder.hold()
    first = batcher.submit(1)
    assert recorder.entered.wait(10)

    with pytest.raises(BatchTimeout):
        batcher.run(2, deadline=time.monotonic())
    recorder.release.set()

    assert first.result(10) == 10
    batcher.stop(10)
    assert recorder.batches == [[1]]  # the timed-out request never reached the model
    assert batcher.stats()["cancelled"] == 1


def test_stop_runs_the_queued_requests_then_refuses_new_ones(make_batcher):
    recorder = Recorder()
    batcher = make_batcher(recorder, max_wait_ms=0)
    recorder.hold()
    first = batcher.submit(1)
    assert recorder.entered.wait(10)
    queued = batcher.submit(2)
    stopper = threading.Thread(target=batcher.stop, args=(10,))
    stopper.start()
    recorder.release.set()
    stopper.join(10)

    assert (first.result(10), queued.result(10)) == (10, 20)
    assert not batcher.stats()["running"]
    with pytest.raises(BatcherStopped):
        batcher.submit(3)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("INFERENCE_BATCHING", "0")
    monkeypatch.setenv("INFERENCE_MAX_BATCH", "8")
    monkeypatch.setenv("INFERENCE_BATCH_WAIT_MS", "2.5")
    monkeypatch.setenv("INFERENCE_BATCH_SPLIT_TOKENS", "nan")
    assert batching.describe() == {
        "enabled": False,
        "max_batch": 8,
        "max_wait_ms": 2.5,
        "split_tokens": batcher_mod.DEFAULT_SPLIT_TOKENS,
    }
    monkeypatch.delenv("INFERENCE_BATCHING")
    monkeypatch.setenv("INFERENCE_MAX_BATCH", "lots")
    assert batching.batching_enabled() is True
    assert batching.max_batch_size() == batcher_mod.DEFAULT_MAX_BATCH


# --- Real (tiny) models: batched results equal unbatched ones -------------------------


def test_fill_mask_batched_equals_unbatched_for_ragged_inputs(tiny_runtime, fresh_batchers):
    bert = tiny_runtime.bert
    calls = [
        lambda t=text, k=k: batching.fill_mask(bert, text=t, top_k=k) for text, k in FILL_MASK_CASES
    ]

    batched = together(calls, announce=lambda: batching.expecting("fill-mask"))

    assert batching.stats()["fill-mask"]["sizes"] == {len(FILL_MASK_CASES): 1}
    for (text, k), got in zip(FILL_MASK_CASES, batched, strict=True):
        alone = fill_mask_engine.fill_mask(bert, text=text, top_k=k)
        assert got["batch_size"] == len(FILL_MASK_CASES) and alone["batch_size"] == 1
        assert got["text"] == alone["text"] and got["tokens"] == alone["tokens"]
        assert len(got["masks"]) == len(alone["masks"]) == text.count("[MASK]")
        for a, b in zip(got["masks"], alone["masks"], strict=True):
            assert a["index"] == b["index"]
            assert len(a["predictions"]) == k
            assert [p["token_id"] for p in a["predictions"]] == [
                p["token_id"] for p in b["predictions"]
            ]
            assert [p["sequence"] for p in a["predictions"]] == [
                p["sequence"] for p in b["predictions"]
            ]
            assert [p["score"] for p in a["predictions"]] == pytest.approx(
                [p["score"] for p in b["predictions"]], abs=1e-5
            )


def test_fill_mask_rows_equal_the_full_model_logits(tiny_runtime):
    """The MLM head run at the mask positions only = the full model's softmax there."""
    import torch

    bert = tiny_runtime.bert
    texts = [text for text, _ in FILL_MASK_CASES]
    items = [fill_mask_engine.prepare(bert, text, top_k=1000) for text in texts]
    rows, _ = fill_mask_engine.forward(bert, items)
    for text, row in zip(texts, rows, strict=True):
        encoded = bert.tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            outputs = bert.model(**encoded)
        logits = getattr(outputs, "prediction_logits", None)
        logits = outputs.logits if logits is None else logits
        probs = logits[0].softmax(-1)
        assert row.ids.tolist() == encoded["input_ids"][0].tolist()
        for position, values, ids in zip(
            row.mask_positions, row.values, row.predictions, strict=True
        ):
            assert probs[position, ids].tolist() == pytest.approx(values, abs=1e-5)


def test_next_token_batched_equals_unbatched_for_ragged_prompts(tiny_runtime, fresh_batchers):
    gpt = tiny_runtime.gpt
    calls = [
        lambda p=prompt, k=k: batching.next_token(gpt, prompt=p, top_k=k)
        for prompt, k in NEXT_TOKEN_CASES
    ]

    batched = together(calls, announce=lambda: batching.expecting("next-token"))

    assert batching.stats()["next-token"]["sizes"] == {len(NEXT_TOKEN_CASES): 1}
    for (prompt, k), got in zip(NEXT_TOKEN_CASES, batched, strict=True):
        alone = next_token_engine.next_token(gpt, prompt=prompt, top_k=k)
        assert got.result["batch_size"] == len(NEXT_TOKEN_CASES)
        assert got.result["prompt"] == prompt
        assert got.result["logits_key"] == alone.result["logits_key"]
        assert [c["token_id"] for c in got.result["candidates"]] == [
            c["token_id"] for c in alone.result["candidates"]
        ]
        assert len(got.result["candidates"]) == k
        assert np.frombuffer(got.logits, "<f4") == pytest.approx(
            np.frombuffer(alone.logits, "<f4"), abs=1e-5
        )
        assert [c["prob"] for c in got.result["candidates"]] == pytest.approx(
            [c["prob"] for c in alone.result["candidates"]], abs=1e-5
        )
        assert got.vocab == alone.vocab


def test_next_token_rows_equal_a_plain_unpadded_forward_pass(tiny_runtime):
    """Right padding + logits at each row's last real token = the prompt run alone."""
    import torch

    gpt = tiny_runtime.gpt
    prompts = [prompt for prompt, _ in NEXT_TOKEN_CASES]
    items = [next_token_engine.prepare(gpt, prompt, top_k=5) for prompt in prompts]
    rows, _ = next_token_engine.forward(gpt, items)
    lengths = {item.length for item in items}
    assert len(lengths) > 2  # really ragged
    for prompt, row in zip(prompts, rows, strict=True):
        encoded = gpt.tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            expected = gpt.model(**encoded).logits[0, -1].float()
        assert row.tolist() == pytest.approx(expected.tolist(), abs=1e-5)


def test_embeddings_batched_equals_unbatched_for_ragged_pairs(tiny_runtime, fresh_batchers):
    bert, encoder = tiny_runtime.bert, tiny_runtime.encoder
    calls = [lambda c=case: batching.embeddings(bert, encoder, **c) for case in EMBEDDINGS_CASES]

    batched = together(calls, announce=lambda: batching.expecting("embeddings"))

    assert batching.stats()["embeddings"]["sizes"] == {len(EMBEDDINGS_CASES): 1}
    for case, got in zip(EMBEDDINGS_CASES, batched, strict=True):
        alone = embeddings_engine.embeddings(bert, encoder, **case)
        assert got["batch_size"] == len(EMBEDDINGS_CASES)
        for key in ("word", "sentence_a", "sentence_b"):
            assert got[key] == alone[key] == case[key]
        for key in ("tokens_a", "tokens_b", "word_pieces", "word_pieces_b"):
            assert got["contextual"][key] == alone["contextual"][key]
        assert got["contextual"]["similarity"] == pytest.approx(
            alone["contextual"]["similarity"], abs=1e-5
        )
        assert got["sentence"]["similarity"] == pytest.approx(
            alone["sentence"]["similarity"], abs=1e-5
        )


def test_embeddings_rows_equal_unpadded_passes(tiny_runtime):
    import torch

    bert, encoder = tiny_runtime.bert, tiny_runtime.encoder
    items = [embeddings_engine.prepare(bert, encoder, **case) for case in EMBEDDINGS_CASES]
    rows, _ = embeddings_engine.forward(bert, encoder, items)
    for item, row in zip(items, rows, strict=True):
        for sentence, vector, pooled in (
            (item.a, row.vec_a, row.sentence_a),
            (item.b, row.vec_b, row.sentence_b),
        ):
            encoded = bert.tokenizer(sentence.text, return_tensors="pt")
            with torch.inference_mode():
                hidden = bert.model.base_model(**encoded).last_hidden_state[0]
            expected = hidden[sentence.pieces].mean(dim=0)
            assert vector.tolist() == pytest.approx(expected.tolist(), abs=1e-5)
            alone = embeddings_engine.sentence_embeddings_batch(encoder, [sentence.text])[0]
            assert pooled.tolist() == pytest.approx(alone.tolist(), abs=1e-5)


def test_concurrency_one_runs_each_request_at_once(tiny_runtime, fresh_batchers):
    bert = tiny_runtime.bert
    for text, k in FILL_MASK_CASES[:4]:
        with batching.expecting("fill-mask"):
            result = batching.fill_mask(bert, text=text, top_k=k)
        assert result["batch_size"] == 1
        alone = fill_mask_engine.fill_mask(bert, text=text, top_k=k)
        assert [m["predictions"] for m in result["masks"]] == [
            [{**p, "score": pytest.approx(p["score"], abs=1e-5)} for p in m["predictions"]]
            for m in alone["masks"]
        ]

    stats = batching.stats()["fill-mask"]
    assert stats["sizes"] == {1: 4}
    assert stats["waits"] == 0  # never took the gather wait (a 60 s window here)


def test_invalid_input_fails_only_its_own_caller(tiny_runtime, fresh_batchers):
    bert = tiny_runtime.bert
    texts = ["The cat sat on the [MASK].", "No blank here.", "A [MASK] dog.", "[MASK] runs."]
    calls = [lambda t=text: batching.fill_mask(bert, text=t, top_k=3) for text in texts]

    results = together(calls, announce=lambda: batching.expecting("fill-mask"))

    assert isinstance(results[1], DemoInputError) and "[MASK]" in results[1].message
    for index in (0, 2, 3):
        assert (
            results[index]["masks"][0]["predictions"][0]["token_id"]
            == (
                fill_mask_engine.fill_mask(bert, text=texts[index], top_k=3)["masks"][0][
                    "predictions"
                ][0]["token_id"]
            )
        )
    # The bad one was refused before it reached the batcher; the others still shared one.
    assert batching.stats()["fill-mask"]["sizes"] == {3: 1}


def test_a_late_model_error_fails_only_its_own_caller(tiny_runtime, fresh_batchers, monkeypatch):
    bert = tiny_runtime.bert
    real_forward = fill_mask_engine.forward

    def fragile_forward(model, items):
        if any("dragon" in item.text for item in items):
            raise RuntimeError("the model cannot handle dragons")
        return real_forward(model, items)

    monkeypatch.setattr(fill_mask_engine, "forward", fragile_forward)
    texts = ["The cat sat on the [MASK].", "The dragon ate a [MASK].", "A [MASK] dog."]
    results = together(
        [lambda t=text: batching.fill_mask(bert, text=t, top_k=3) for text in texts],
        announce=lambda: batching.expecting("fill-mask"),
    )

    assert isinstance(results[1], RuntimeError) and "dragons" in str(results[1])
    assert [results[0]["text"], results[2]["text"]] == [texts[0], texts[2]]
    stats = batching.stats()["fill-mask"]
    assert stats["fallbacks"] == 1 and stats["errors"] == 1


def test_batching_off_bypasses_the_batcher(tiny_runtime, fresh_batchers, monkeypatch):
    monkeypatch.setenv("INFERENCE_BATCHING", "0")
    rt = tiny_runtime
    with batching.expecting("fill-mask"):
        result = batching.fill_mask(rt.bert, text="The cat sat on the [MASK].", top_k=3)
    output = batching.next_token(rt.gpt, prompt="The cat", top_k=3)
    pair = batching.embeddings(rt.bert, rt.encoder, **EMBEDDINGS_CASES[0])

    assert result["batch_size"] == output.result["batch_size"] == pair["batch_size"] == 1
    assert batching.stats() == {}  # no batcher was even created
    assert not [t for t in threading.enumerate() if t.name.startswith("batcher-")]


# --- Through the Celery tasks -----------------------------------------------------------


def test_concurrent_tasks_get_their_own_correct_results(
    tiny_settings, tiny_runtime, redis_client, fresh_batchers, monkeypatch
):
    monkeypatch.setenv("INFERENCE_BATCH_WAIT_MS", "20")  # batches may form in any split here
    task_ids = [uuid.uuid4().hex for _ in FILL_MASK_CASES]
    barrier = threading.Barrier(len(FILL_MASK_CASES))

    def run(index):
        text, k = FILL_MASK_CASES[index]
        barrier.wait()
        return tasks.demo_task("fill-mask").apply(
            kwargs={"text": text, "top_k": k}, task_id=task_ids[index]
        )

    with ThreadPoolExecutor(len(FILL_MASK_CASES)) as pool:
        results = [r.get() for r in pool.map(run, range(len(FILL_MASK_CASES)))]

    for (text, k), result, task_id in zip(FILL_MASK_CASES, results, task_ids, strict=True):
        alone = fill_mask_engine.fill_mask(tiny_runtime.bert, text=text, top_k=k)
        assert result["text"] == text
        assert [m["index"] for m in result["masks"]] == [m["index"] for m in alone["masks"]]
        assert [[p["token_id"] for p in m["predictions"]] for m in result["masks"]] == [
            [p["token_id"] for p in m["predictions"]] for m in alone["masks"]
        ]
        assert streams.all_events(redis_client, task_id)[-1] == {"type": "done", "result": result}
    stats = batching.stats()["fill-mask"]
    assert stats["items"] == len(FILL_MASK_CASES)
    assert sum(size * count for size, count in stats["sizes"].items()) == len(FILL_MASK_CASES)
    assert stats["expected"] == 0


def test_a_task_whose_batch_runs_past_the_deadline_reports_timeout(
    tiny_settings, tiny_runtime, redis_client, fresh_batchers, monkeypatch
):
    release = threading.Event()

    def stuck(items):
        release.wait(30)
        return [None for _ in items]

    stuck_batcher = Batcher("fill-mask", stuck, max_wait_ms=0)
    monkeypatch.setattr(batching, "get_batcher", lambda kind: stuck_batcher)
    monkeypatch.setitem(
        kinds._REGISTRY, "fill-mask", replace(kinds.require("fill-mask"), time_limits=(0, 1))
    )
    task_id = uuid.uuid4().hex
    try:
        result = (
            tasks.demo_task("fill-mask")
            .apply(kwargs={"text": "The cat sat on the [MASK]."}, task_id=task_id)
            .get()
        )
    finally:
        release.set()
        stuck_batcher.stop(10)

    event = streams.all_events(redis_client, task_id)[-1]
    assert event["type"] == "error" and event["code"] == "timeout"
    assert result == {"error": event}


def test_next_token_and_embeddings_tasks_run_through_the_batchers(
    tiny_settings, tiny_runtime, redis_client, fresh_batchers
):
    output = tasks.demo_task("next-token").apply(kwargs={"prompt": "The cat", "top_k": 4}).get()
    pair = tasks.demo_task("embeddings").apply(kwargs=EMBEDDINGS_CASES[0]).get()

    alone = next_token_engine.next_token(tiny_runtime.gpt, prompt="The cat", top_k=4)
    assert [c["token_id"] for c in output["candidates"]] == [
        c["token_id"] for c in alone.result["candidates"]
    ]
    assert streams.logits_read(redis_client, output["logits_key"]) is not None
    assert pair["contextual"]["word_pieces"] == ["bank"]
    stats = batching.stats()
    assert stats["next-token"]["items"] == 1 and stats["embeddings"]["items"] == 1


# --- A real model worker ----------------------------------------------------------------


@pytest.mark.integration
def test_a_real_worker_answers_concurrent_requests_each_with_its_own_result(
    celery_worker_proc, tiny_runtime
):
    """Requests sent together to a real worker (threads pool) come back right and apart."""
    info = celery_worker_proc.heartbeat()
    assert info["batching"]["enabled"] is True
    assert info["batching"]["max_batch"] >= 1

    client = streams.redis_client()
    reader = streams.redis_client(socket_timeout=None)
    sent = []
    for text, k in FILL_MASK_CASES:
        task_id = uuid.uuid4().hex
        streams.publish(client, task_id, streams.queued_event("fill_mask"))
        tasks.demo_task("fill-mask").apply_async(
            kwargs={"text": text, "top_k": k}, task_id=task_id, queue="inference", expires=120
        )
        sent.append((text, k, task_id))

    for text, k, task_id in sent:
        deadline = time.monotonic() + 60
        outcome, cursor = None, "0-0"
        while outcome is None and time.monotonic() < deadline:
            entries = streams.read_events(reader, task_id, after=cursor, block_ms=1000)
            for entry_id, event in entries:
                cursor = entry_id
                if event["type"] in ("done", "error"):
                    outcome = event
        assert outcome is not None and outcome["type"] == "done", outcome
        result = outcome["result"]
        alone = fill_mask_engine.fill_mask(tiny_runtime.bert, text=text, top_k=k)
        assert result["text"] == text
        assert 1 <= result["batch_size"] <= len(FILL_MASK_CASES)
        assert [[p["token_id"] for p in m["predictions"]] for m in result["masks"]] == [
            [p["token_id"] for p in m["predictions"]] for m in alone["masks"]
        ]
