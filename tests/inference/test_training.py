"""Tests for inference/training (the demo-model build) and `manage.py build_demo_models`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command

from inference.training import corpus as corpus_mod
from inference.training.build import BuildError, _build_lock, is_built
from inference.training.data import SentencePairs, SpecialIds, TextBlocks
from inference.training.loop import LoopSettings, lr_at
from inference.training.masking import IGNORE_INDEX, mask_tokens
from inference.training.records import ProgressWriter, overall_percent

CLS, SEP, PAD, MASK = 2, 3, 0, 4
FIRST_REGULAR, VOCAB = 5, 1000


# --- masking ---------------------------------------------------------------------------------


def _batch(rows: int = 400, width: int = 128, seed: int = 0):
    """[CLS] A [SEP] B [SEP] [PAD]... with random lengths, and its special-token mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(FIRST_REGULAR, VOCAB, (rows, width), generator=gen)
    special = torch.zeros((rows, width), dtype=torch.bool)
    for row in range(rows):
        length = int(torch.randint(20, width + 1, (1,), generator=gen))
        sep = length // 2
        ids[row, 0], ids[row, sep], ids[row, length - 1] = CLS, SEP, SEP
        ids[row, length:] = PAD
        special[row, [0, sep, length - 1]] = True
        special[row, length:] = True
    return ids, special


def _mask(ids, special, seed=0):
    return mask_tokens(
        ids,
        special_mask=special,
        mask_token_id=MASK,
        random_token_ids=(FIRST_REGULAR, VOCAB),
        generator=torch.Generator().manual_seed(seed),
    )


def test_masking_chooses_15_percent_and_splits_80_10_10():
    ids, special = _batch()
    corrupted, labels = _mask(ids, special)
    chosen = labels != IGNORE_INDEX
    eligible = ~special
    assert abs(chosen.sum().item() / eligible.sum().item() - 0.15) < 0.01

    n = chosen.sum().item()
    became_mask = (corrupted[chosen] == MASK).sum().item() / n
    unchanged = (corrupted[chosen] == ids[chosen]).sum().item() / n
    replaced = 1 - became_mask - unchanged
    assert abs(became_mask - 0.8) < 0.02
    # a random replacement equals the original token 1/995 of the time: within tolerance
    assert abs(replaced - 0.1) < 0.015
    assert abs(unchanged - 0.1) < 0.015


def test_masking_never_touches_special_tokens_or_padding_and_labels_hold_originals():
    ids, special = _batch(rows=200, seed=1)
    original = ids.clone()
    corrupted, labels = _mask(ids, special, seed=3)
    assert torch.equal(ids, original)  # input not modified in place
    assert (labels[special] == IGNORE_INDEX).all()
    assert torch.equal(corrupted[special], ids[special])
    chosen = labels != IGNORE_INDEX
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])
    replaced = chosen & (corrupted != MASK) & (corrupted != ids)
    assert replaced.any()
    assert ((corrupted[replaced] >= FIRST_REGULAR) & (corrupted[replaced] < VOCAB)).all()


def test_masking_is_reproducible_from_the_generator_seed():
    ids, special = _batch(rows=20)
    a = _mask(ids, special, seed=7)
    b = _mask(ids, special, seed=7)
    c = _mask(ids, special, seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


# --- corpus ----------------------------------------------------------------------------------

DOCSTRING_WITH_CODE = '''
"""Utilities for reading configuration files.

The loader reads every file in the directory and merges the values it finds.

Example::

    >>> load("settings.ini")
    {'debug': True}

Parameters
----------
path : str
    Where the files are.

See https://example.com/docs for the full reference of this module.
Copyright (c) 2020 Example Corp. All rights reserved by the authors here.
"""


def merge(a, b):
    """Merge two dictionaries and return the result as a new dictionary.

    >>> merge({"a": 1}, {"b": 2})
    {'a': 1, 'b': 2}
    """
    config_value = {**a, **b}
    return config_value
'''


def _fake_install(root: Path, *, reverse: bool = False) -> tuple[Path, Path]:
    stdlib, site = root / "stdlib", root / "site"
    files = {
        stdlib / "zeta.py": '"""The zeta module computes values that the other modules need."""\n',
        stdlib / "alpha.py": DOCSTRING_WITH_CODE,
        stdlib
        / "test"
        / "test_alpha.py": '"""This test module must never be part of the corpus."""\n',
        site / "django" / "core.py": (
            '"""The request object is passed to every view function in the project."""\n'
        ),
        site / "Django-5.0.dist-info" / "METADATA": (
            "Metadata-Version: 2.1\nName: Django\n\n"
            "Django is a web framework that encourages rapid development and clean design.\n"
        ),
    }
    for path, text in sorted(files.items(), reverse=reverse):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return stdlib, site


def test_prose_paragraphs_drop_code_doctests_and_argument_lists():
    doc = textwrap.dedent(DOCSTRING_WITH_CODE.split('"""')[1])
    paragraphs = corpus_mod.prose_paragraphs(doc)
    joined = " ".join(paragraphs)
    assert "The loader reads every file in the directory and merges the values it finds." in joined
    assert ">>>" not in joined
    assert "debug" not in joined
    assert "path : str" not in joined
    assert "Where the files are" not in joined


def test_is_prose_sentence_accepts_english_and_rejects_code_urls_and_boilerplate():
    assert corpus_mod.is_prose_sentence("Return the number of items in the list.")
    assert corpus_mod.is_prose_sentence("If the file does not exist, an error is raised.")
    assert not corpus_mod.is_prose_sentence("x = foo(bar_baz, qux=1) if x else y.")
    assert not corpus_mod.is_prose_sentence("See https://example.com/docs for the details here.")
    assert not corpus_mod.is_prose_sentence("Copyright 2020 the authors, all rights reserved.")
    assert not corpus_mod.is_prose_sentence("Die Datei wurde nicht gefunden, über alles größer.")
    assert not corpus_mod.is_prose_sentence("return the value")  # not a sentence
    assert not corpus_mod.is_prose_sentence("Calls os.path.join(a, b) and sys.exit(1) on error.")


def test_clean_markup_keeps_the_words_of_rst_and_markdown():
    text = "Use :func:`os.walk` or ``glob`` to *find* the [files](https://x.org) you need."
    assert corpus_mod.clean_markup(text) == "Use os.walk or glob to find the files you need."


def test_build_corpus_filters_code_and_is_deterministic(tmp_path):
    first = corpus_mod.build_corpus(
        stdlib_dir=_fake_install(tmp_path / "a")[0],
        site_packages=tmp_path / "a" / "site",
        packages=("django",),
    )
    stdlib_b, site_b = _fake_install(tmp_path / "b", reverse=True)
    second = corpus_mod.build_corpus(
        stdlib_dir=stdlib_b, site_packages=site_b, packages=("django",)
    )

    assert first.fingerprint() == second.fingerprint()
    assert [d.doc_id for d in first.documents] == [
        "stdlib:alpha.py:<module>",
        "stdlib:alpha.py:merge",
        "stdlib:zeta.py:<module>",
        "pkg:django/core.py:<module>",
        "readme:Django-5.0",
    ]
    text = " ".join(d.text for d in first.documents)
    assert "Merge two dictionaries and return the result as a new dictionary." in text
    assert "never be part of the corpus" not in text
    for fragment in (">>>", "config_value", "https://", "Copyright", "path : str"):
        assert fragment not in text
    stats = first.stats()
    assert stats["documents"] == 5 and stats["sentences"] == 6
    assert first.sources["readmes"]["documents"] == 1


def test_build_corpus_drops_duplicate_sentences(tmp_path):
    stdlib = tmp_path / "stdlib"
    stdlib.mkdir()
    sentence = "Return the value stored under the given key."
    (stdlib / "a.py").write_text(f'"""{sentence}"""\n')
    (stdlib / "b.py").write_text(
        f'"""{sentence}\n\nThe cache is cleared when the process exits."""\n'
    )
    corpus = corpus_mod.build_corpus(
        stdlib_dir=stdlib, site_packages=tmp_path / "none", packages=()
    )
    all_sentences = [s for d in corpus.documents for s in d.sentences]
    assert all_sentences == [sentence, "The cache is cleared when the process exits."]


def test_installed_corpus_slice_is_deterministic_and_split_is_stable(tmp_path):
    a = corpus_mod.build_corpus(max_files_per_source=2)
    b = corpus_mod.build_corpus(max_files_per_source=2)
    assert a.fingerprint() == b.fingerprint()
    assert a.stats()["chars"] > 10_000
    a.save(tmp_path / "c.jsonl")
    loaded = corpus_mod.Corpus.load(tmp_path / "c.jsonl")
    assert loaded.fingerprint() == a.fingerprint()
    train, held = loaded.split(10)
    assert {d.doc_id for d in held} == {d.doc_id for d in a.split(10)[1]}
    assert 0 < len(held) < len(train)


def test_parallel_parsing_gives_the_same_corpus_as_serial(monkeypatch):
    kwargs = {"packages": ("django",), "max_files_per_source": 150}  # > 200 files in all
    parallel = corpus_mod.build_corpus(**kwargs)
    monkeypatch.setattr(corpus_mod, "_parser_pool", lambda files: contextlib.nullcontext())
    serial = corpus_mod.build_corpus(**kwargs)
    assert parallel.fingerprint() == serial.fingerprint()
    assert parallel.sources["docstrings:django"]["documents"] > 20


# --- data ------------------------------------------------------------------------------------


def test_sentence_pairs_are_well_formed_and_half_of_them_are_real_continuations():
    rng = np.random.default_rng(0)
    docs = [
        [list(range(10 * d + 5, 10 * d + 5 + rng.integers(3, 30))) for _ in range(6)]
        for d in range(40)
    ]
    pairs = SentencePairs(docs, max_length=64, special=SpecialIds(cls=CLS, sep=SEP, pad=PAD))
    batch = pairs.batch(np.random.default_rng(1), 400)
    ids, types, attention, special = (
        batch["input_ids"],
        batch["token_type_ids"],
        batch["attention_mask"],
        batch["special_mask"],
    )
    assert ids.shape[1] <= 64
    assert (ids[:, 0] == CLS).all()
    assert abs(batch["next_sentence_label"].float().mean().item() - 0.5) < 0.08
    for row in range(ids.shape[0]):
        n = int(attention[row].sum())
        seq = ids[row, :n].tolist()
        assert seq.count(SEP) == 2 and seq[-1] == SEP
        assert (ids[row, n:] == PAD).all()
        sep = seq.index(SEP)
        assert (types[row, : sep + 1] == 0).all() and (types[row, sep + 1 : n] == 1).all()
        assert special[row].tolist() == [tok in (CLS, SEP, PAD) for tok in ids[row].tolist()]


def test_text_blocks_depend_only_on_seed_and_step():
    docs = [list(range(5, 5 + n)) for n in (30, 50, 70)]
    a = TextBlocks(docs, block_size=16, eos_id=0, seed=3)
    b = TextBlocks(docs, block_size=16, eos_id=0, seed=3)
    assert torch.equal(a.batch(5, 4), b.batch(5, 4))
    first_epoch = torch.cat([a.batch(step, 1) for step in range(len(a.blocks))])
    assert sorted(map(tuple, first_epoch.tolist())) == sorted(map(tuple, a.blocks.tolist()))


# --- schedule and progress -------------------------------------------------------------------


def test_learning_rate_warms_up_then_decays_to_the_floor():
    settings = LoopSettings(budget_seconds=100, batch_size=1, peak_lr=1e-3, warmup_steps=10)
    assert lr_at(settings, 0, 0.0) == pytest.approx(1e-4)
    assert lr_at(settings, 9, 0.0) == pytest.approx(1e-3)
    assert lr_at(settings, 500, 0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(settings, 900, 1.0) == pytest.approx(1e-4)


def test_attention_window_narrows_early_training_then_opens_fully():
    from inference.training.bert import attention_window

    schedule = ((0.25, 2), (0.5, 4), (0.7, 8))
    assert [attention_window(schedule, p) for p in (0.0, 0.24, 0.25, 0.6, 0.7, 1.0)] == [
        2,
        2,
        4,
        8,
        None,
        None,
    ]
    assert attention_window((), 0.0) is None


def test_windowed_mask_shows_each_token_only_its_neighbours_and_never_padding():
    import torch

    from inference.training.bert import windowed_attention_mask

    padding = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])
    mask = windowed_attention_mask(padding, 1)
    assert mask.shape == (2, 1, 6, 6) and mask.dtype == torch.bool
    assert mask[0, 0, 2].tolist() == [False, True, True, True, False, False]
    assert mask[0, 0, 4].tolist() == [False, False, False, True, True, False]  # 5 is padding
    assert mask[1, 0, 2].tolist() == [False, True, True, False, False, False]
    assert windowed_attention_mask(padding, None) is padding


def test_a_window_wider_than_the_sentence_changes_nothing_in_bert():
    """The 4-D boolean mask means what we think it means to transformers (True = may attend):
    a window covering every position gives exactly the plain padding mask's output, and a
    narrow one changes it."""
    import torch
    from transformers import BertConfig, BertModel

    from inference.training.bert import windowed_attention_mask

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    model = BertModel(config).eval()
    ids = torch.randint(5, 50, (2, 8))
    padding = torch.ones_like(ids)
    padding[1, 6:] = 0
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=padding).last_hidden_state
        wide = model(input_ids=ids, attention_mask=windowed_attention_mask(padding, 8))
        narrow = model(input_ids=ids, attention_mask=windowed_attention_mask(padding, 1))
    assert torch.allclose(plain[0], wide.last_hidden_state[0], atol=1e-5)
    assert torch.allclose(plain[1, :6], wide.last_hidden_state[1, :6], atol=1e-5)
    assert not torch.allclose(plain[0], narrow.last_hidden_state[0], atol=1e-3)


def test_progress_percent_grows_through_the_stages(tmp_path):
    values = [
        overall_percent(stage, f)
        for stage in ("corpus", "bert", "gpt", "saving")
        for f in (0, 0.5, 1)
    ]
    assert values == sorted(values)
    assert values[0] == 0.0 and values[-1] == 100.0

    clock = iter([100.0, 100.5, 103.0])
    writer = ProgressWriter(tmp_path / "progress.json", interval=2.0, clock=lambda: next(clock))
    writer.update("bert", 0.1, eta_seconds=50)
    writer.update("bert", 0.2, eta_seconds=40)  # throttled: within 2 s
    assert json.loads((tmp_path / "progress.json").read_text())["updated_at"] == 100.0
    writer.update("bert", 0.3, eta_seconds=30)
    data = json.loads((tmp_path / "progress.json").read_text())
    assert data["state"] == "building" and data["stage"] == "bert" and data["eta_seconds"] == 30


def test_a_second_build_is_refused_while_one_holds_the_lock(tmp_path):
    work = tmp_path / "demo" / ".work"
    with (
        _build_lock(work),
        pytest.raises(BuildError, match="another build is running"),
        _build_lock(work),
    ):
        pass
    with _build_lock(work):  # released again
        handle = (work / "lock").open()
        with pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.close()


def test_importing_the_build_does_not_import_torch_or_transformers():
    code = (
        "import sys\n"
        "import inference.training.build, inference.management.commands.build_demo_models\n"
        "print(sorted({'torch', 'transformers', 'tokenizers'} & set(sys.modules)))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'site'}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


# --- the command, end to end (--quick) -------------------------------------------------------


def _quick(models_dir: Path, *args: str) -> None:
    call_command("build_demo_models", "--quick", "--no-progress", "--dir", str(models_dir), *args)


def _record(models_dir: Path) -> dict:
    return json.loads((models_dir / "demo" / "training.json").read_text())


def test_quick_build_writes_loadable_hugging_face_folders(quick_build):
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BertForMaskedLM,
        BertForPreTraining,
        GPT2LMHeadModel,
        pipeline,
    )

    bert_dir, gpt_dir = quick_build / "demo" / "bert", quick_build / "demo" / "gpt"
    model, info = BertForPreTraining.from_pretrained(bert_dir, output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert BertForMaskedLM.from_pretrained(bert_dir).config.num_hidden_layers == 2
    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    assert (
        tokenizer.mask_token == "[MASK]"
        and tokenizer("Hello World")["input_ids"][0] == tokenizer.cls_token_id
    )
    assert tokenizer.tokenize("Hello") == tokenizer.tokenize("hello")  # uncased

    gpt, info = GPT2LMHeadModel.from_pretrained(gpt_dir, output_loading_info=True)
    assert not info["missing_keys"]
    assert AutoModelForCausalLM.from_pretrained(gpt_dir).config.n_layer == 2
    gpt_tok = AutoTokenizer.from_pretrained(gpt_dir)
    assert gpt_tok.decode(gpt_tok("Return the Value.")["input_ids"]) == "Return the Value."

    fill = pipeline("fill-mask", model=str(bert_dir), top_k=3)
    predictions = fill("Return the [MASK] of the list.")
    assert len(predictions) == 3 and all("token_str" in p for p in predictions)
    generate = pipeline("text-generation", model=str(gpt_dir))
    out = generate("Return the", max_new_tokens=5, do_sample=False)
    assert out[0]["generated_text"].startswith("Return the")

    # worker users other than the builder can read the weights
    assert (bert_dir / "model.safetensors").stat().st_mode & 0o044 == 0o044


def test_quick_build_records_curves_metrics_samples_and_progress(quick_build):
    record = _record(quick_build)
    assert record["state"] == "done" and record["mode"] == "quick"
    corpus = record["corpus"]
    assert corpus["chars"] > 0 and corpus["sentences"] > 0 and corpus["documents"] > 0
    assert corpus["sources"] and corpus["why"]
    bert, gpt = record["models"]["bert"], record["models"]["gpt"]
    assert [p["step"] for p in bert["loss_curve"]] == list(range(1, 9))
    assert {"mlm_loss", "nsp_loss", "loss", "elapsed_s"} <= set(bert["loss_curve"][0])
    assert {"loss", "elapsed_s"} <= set(gpt["loss_curve"][0])
    assert 0 <= bert["heldout"]["mlm_top1_accuracy"] <= bert["heldout"]["mlm_top5_accuracy"] <= 1
    assert 0 <= bert["heldout"]["nsp_accuracy"] <= 1
    assert gpt["heldout"]["heldout_perplexity"] > 1
    assert bert["parameters"] > 0 and bert["config"]["hidden_size"] == 64
    assert len(bert["samples"]) == 5 and len(bert["samples"][0]["predictions"]) == 5
    assert len(gpt["samples"]) == 5 and {"prompt", "greedy", "sampled"} <= set(gpt["samples"][0])
    assert set(record["wall_seconds"]) >= {"corpus", "tokenizers", "bert", "gpt", "eval", "saving"}
    # BERT's local-attention curriculum ran and ended in full attention (window 0 = full)
    windows = [p["attention_window"] for p in bert["loss_curve"]]
    assert windows[0] == 2 and windows[-1] == 0
    assert bert["training"]["attention_curriculum"][0] == {"until_progress": 0.25, "window": 2}

    progress = json.loads((quick_build / "demo" / "progress.json").read_text())
    assert progress["state"] == "done" and progress["percent"] == 100.0
    assert not list((quick_build / "demo").glob(".*staging*"))
    assert not (quick_build / "demo" / ".work" / "bert").exists()
    assert is_built(quick_build, mode="quick") and not is_built(quick_build, mode="full")


def test_a_finished_build_is_a_no_op_unless_forced(quick_build, capsys):
    before = _record(quick_build)["built_at"]
    weights = quick_build / "demo" / "gpt" / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    call_command("build_demo_models", "--quick", "--no-progress", "--dir", str(quick_build))
    assert "already built" in capsys.readouterr().out
    assert _record(quick_build)["built_at"] == before
    assert weights.stat().st_mtime_ns == mtime


def test_force_rebuilds(tmp_path):
    _quick(tmp_path)
    first = _record(tmp_path)["built_at"]
    _quick(tmp_path, "--force")
    assert _record(tmp_path)["built_at"] > first
    assert is_built(tmp_path, mode="quick")


def test_an_interrupted_build_resumes_from_its_checkpoint(tmp_path):
    interrupted, fresh = tmp_path / "interrupted", tmp_path / "fresh"
    with pytest.raises(CommandError, match="stopped after step 3"):
        _quick(interrupted, "--stop-after-steps", "3")
    demo = interrupted / "demo"
    progress = json.loads((demo / "progress.json").read_text())
    assert progress["state"] == "failed" and "resume" in progress["message"]
    assert not (demo / "bert").exists()  # nothing half-built is published
    checkpoint = torch.load(demo / ".work" / "bert" / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 3 and not checkpoint["finished"]

    # The same build with the same corpus and tokenizers, but BERT trained without a break.
    shutil.copytree(interrupted, fresh)
    (fresh / "demo" / ".work" / "bert" / "checkpoint.pt").unlink()
    _quick(fresh)
    _quick(interrupted)

    bert = _record(interrupted)["models"]["bert"]
    assert bert["training"]["resumed_from_step"] == 3
    assert bert["training"]["steps"] == 8
    assert [p["step"] for p in bert["loss_curve"]] == list(range(1, 9))
    # It continued rather than restarted: same batches, masks and weights as the unbroken
    # run, so the losses after the resume match it step by step.
    reference = _record(fresh)["models"]["bert"]
    assert reference["training"]["resumed_from_step"] is None
    assert [p["loss"] for p in bert["loss_curve"]] == pytest.approx(
        [p["loss"] for p in reference["loss_curve"]], abs=1e-4
    )
    gpt_losses = [
        [p["loss"] for p in _record(d)["models"]["gpt"]["loss_curve"]] for d in (interrupted, fresh)
    ]
    assert gpt_losses[0] == pytest.approx(gpt_losses[1], abs=1e-4)
