"""The demo models' tokenizers: bert-base-uncased's WordPiece, as MiniLM ships it.

Both demo models start from all-MiniLM-L6-v2's weights, so both read text with the
vocabulary those weights were trained with: bert-base-uncased's 30,522-entry WordPiece
(lower case, accents stripped, ``##`` marks a piece that continues a word).

- BERT's tokenizer is MiniLM's own: ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``.
- GPT's is the same vocabulary with another template: ``[CLS] text`` and no closing
  ``[SEP]``, because a prompt is an unfinished text that the model continues; ``[SEP]``
  is its end-of-text token (the corpus puts one after every document).

Both are saved as ordinary `BertTokenizerFast` folders, so `AutoTokenizer.from_pretrained`
loads them like any Hub tokenizer.
"""

from __future__ import annotations

from pathlib import Path


def bert_tokenizer(source: Path, *, max_length: int):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    tokenizer.model_max_length = max_length
    return tokenizer


def gpt_tokenizer(source: Path, *, max_length: int):
    """MiniLM's WordPiece with the causal template: ``[CLS] $A`` and ``[SEP]`` as end of text."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    cls, sep = tokenizer.cls_token, tokenizer.sep_token
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{cls} $A",
        pair=f"{cls} $A {sep} $B:1",
        special_tokens=[(cls, tokenizer.cls_token_id), (sep, tokenizer.sep_token_id)],
    )
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer.backend_tokenizer,
        unk_token=tokenizer.unk_token,
        pad_token=tokenizer.pad_token,
        cls_token=cls,
        sep_token=sep,
        mask_token=tokenizer.mask_token,
        bos_token=cls,
        eos_token=sep,
        model_max_length=max_length,
        clean_up_tokenization_spaces=True,  # "isn ' t" -> "isn't" when decoding
    )


def frequent_vocabulary(tokenizer, documents: list[list[int]], *, size: int) -> list[int]:
    """The ids to keep in a smaller copy of `tokenizer`'s vocabulary: the special tokens,
    every single character and ``##`` character (so any text can still be spelt out), then
    the pieces most frequent in `documents`, in their original order, `size` in all."""
    import numpy as np

    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    counts = np.bincount(
        np.fromiter((t for doc in documents for t in doc), dtype=np.int64), minlength=len(vocab)
    )
    keep = set(tokenizer.all_special_ids)
    keep |= {i for i, tok in enumerate(vocab) if len(tok.removeprefix("##")) == 1}
    for i in np.argsort(-counts, kind="stable"):
        if len(keep) >= size or counts[i] == 0:
            break
        if not (vocab[i].startswith("[") and vocab[i].endswith("]")):  # [unused...]
            keep.add(int(i))
    return sorted(keep)


def pruned_tokenizer(tokenizer, keep: list[int]):
    """`tokenizer` with only the `keep` ids, renumbered 0..len(keep)-1 in that order."""
    import json

    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    old = tokenizer.convert_ids_to_tokens(keep)
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec["model"]["vocab"] = {token: index for index, token in enumerate(old)}
    new_id = {token: index for index, token in enumerate(old)}
    spec["added_tokens"] = [
        {**added, "id": new_id[added["content"]]}
        for added in spec.get("added_tokens", [])
        if added["content"] in new_id
    ]
    processor = spec.get("post_processor") or {}
    for token, entry in (processor.get("special_tokens") or {}).items():
        entry["ids"] = [new_id[token]]
    backend = Tokenizer.from_str(json.dumps(spec))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **{
            name: getattr(tokenizer, name)
            for name in (
                "unk_token",
                "pad_token",
                "cls_token",
                "sep_token",
                "mask_token",
                "bos_token",
                "eos_token",
            )
        },
        model_max_length=tokenizer.model_max_length,
        clean_up_tokenization_spaces=True,
    )


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
