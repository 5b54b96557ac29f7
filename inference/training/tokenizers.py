"""Tokenizers trained on the corpus: WordPiece for BERT, byte-level BPE for GPT.

Both are trained with the `tokenizers` library and then wrapped in the transformers classes
the real models use (`BertTokenizerFast`, `GPT2TokenizerFast`), so a saved folder loads with
`AutoTokenizer.from_pretrained` exactly like bert-base-uncased or gpt2 do. BERT is uncased
(lower-cases and strips accents, like bert-base-uncased); GPT keeps case and spaces
(`Ġ` marks a leading space, like gpt2).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
GPT_EOS = "<|endoftext|>"


def train_bert_tokenizer(texts: Iterable[str], *, vocab_size: int, max_length: int, workdir: Path):
    """A `BertTokenizerFast` with a WordPiece vocabulary learnt from `texts`."""
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    trainer = BertWordPieceTokenizer(lowercase=True, strip_accents=True, clean_text=True)
    trainer.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=BERT_SPECIAL_TOKENS,
        limit_alphabet=1000,
        wordpieces_prefix="##",
        show_progress=False,
    )
    # The WordPiece trainer (tokenizers 0.23) breaks ties between equally frequent pieces in
    # hash order, so two trainings on the same corpus can differ in a few rare pieces and
    # number pieces differently. WordPiece matches the longest piece whatever the ids are, so
    # we number them ourselves (specials, whole words, then ## continuations, alphabetically):
    # ids stay stable across rebuilds for all the pieces both trainings share. A resumed build
    # reuses the tokenizers saved in .work/, so it always matches its checkpoint.
    pieces = [t for t in trainer.get_vocab() if t not in BERT_SPECIAL_TOKENS]
    ordered = BERT_SPECIAL_TOKENS + sorted(pieces, key=lambda t: (t.startswith("##"), t))
    workdir.mkdir(parents=True, exist_ok=True)
    vocab_file = workdir / "vocab.txt"
    vocab_file.write_text("".join(f"{token}\n" for token in ordered), encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    tokenizer.model_max_length = max_length
    return tokenizer


def train_gpt_tokenizer(texts: Iterable[str], *, vocab_size: int, max_length: int, workdir: Path):
    """A `GPT2TokenizerFast` with a byte-level BPE learnt from `texts`."""
    from tokenizers.implementations import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    trainer = ByteLevelBPETokenizer(add_prefix_space=False)
    trainer.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[GPT_EOS],
        show_progress=False,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = trainer.save_model(str(workdir))
    tokenizer = GPT2TokenizerFast(vocab=vocab_file, merges=merges_file)
    tokenizer.model_max_length = max_length
    return tokenizer


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))
