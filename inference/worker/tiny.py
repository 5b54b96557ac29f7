"""The ``tiny`` profile: miniature random-weight BERT, GPT and encoder, built in seconds.

They exercise every code path of the demos (tokenizers, MLM + NSP heads, causal LM with a
KV cache, attentions, mean pooling) without a download or a long training run, so tests
can build them into a temporary MODELS_DIR. Weights are random but seeded, so two builds
are identical. The tokenizers are built with the ``tokenizers`` library from a few hundred
sentences generated from a small built-in English word list:

- WordPiece (vocab ~1,000, lowercase, BERT normaliser and pre-tokenizer; the vocabulary is
  counted deterministically, see :func:`wordpiece_vocab`) saved as ``BertTokenizerFast``,
  shared by ``bert`` (``BertForPreTraining``) and ``encoder`` (``BertModel``);
- byte-level BPE (vocab ~1,000, trained with ``BpeTrainer``) saved as
  ``GPT2TokenizerFast`` for ``gpt`` (``GPT2LMHeadModel``).

torch / transformers / tokenizers are imported inside functions only.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections import Counter
from pathlib import Path

SEED = 1234
VOCAB_SIZE = 1000


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TINY_SIZES = {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "positions": 128}

_NOUNS = _words(
    "cat dog bird fish horse cow sheep mouse lion tiger bear wolf fox rabbit duck "
    "man woman child boy girl teacher student doctor farmer baker driver writer king queen "
    "house room door window table chair bed kitchen garden street road city town village "
    "river lake sea mountain hill forest tree flower grass field sky sun moon star rain "
    "snow wind day night morning evening week year book letter word story song picture "
    "car bus train boat ship plane bike ball game box bag cup plate bread milk water tea "
    "apple cake egg cheese money time family friend school market shop bank park bridge "
    "computer phone model language sentence question answer idea problem reason example "
    "paper pencil window clock watch key lamp mirror wall floor roof garden pocket coat shirt "
    "shoe hat glove river island beach desert valley ocean cloud storm thunder island farm "
    "office hospital library museum theatre church castle tower station airport harbour "
    "neighbour brother sister mother father uncle aunt cousin baby captain soldier sailor "
    "painter singer dancer player artist engineer scientist nurse pilot police lawyer "
    "chicken orange banana potato tomato carrot onion rice soup sugar salt butter honey "
    "music piano guitar drum film photo journey holiday birthday party dinner lunch breakfast "
    "winter summer spring autumn monday friday january october history science number colour"
)
_ADJECTIVES = _words(
    "big small old new young long short tall happy sad good bad red blue green white black "
    "warm cold hot quiet loud fast slow bright dark clean dirty kind clever busy empty full "
    "early late strong soft hard easy heavy light rich poor simple strange quick lazy "
    "beautiful wonderful terrible important famous friendly careful curious hungry thirsty "
    "tired angry brave gentle honest proud silly wise wild calm noisy sunny rainy windy "
    "golden silver wooden ancient modern tiny huge narrow wide deep shallow sweet bitter"
)
_VERBS = _words(
    "sees likes finds takes makes reads writes opens closes watches follows helps carries "
    "brings wants needs knows loves builds moves paints cleans answers asks visits leaves "
    "pushes pulls holds drops catches remembers forgets imagines explains describes "
    "understands believes chooses collects discovers enjoys examines prepares protects "
    "receives repairs teaches throws touches washes welcomes admires borrows compares"
)
_INTRANSITIVE = _words(
    "sleeps runs walks sits stands waits laughs sings swims falls works plays rests smiles "
    "jumps arrives disappears listens breathes dreams travels shouts whispers cries "
    "wanders hurries returns shines grows"
)
_PLACES = _words(
    "in the garden|at the market|near the river|on the table|under the tree|by the window|"
    "in the kitchen|at school|in the city|on the hill|after the rain|before the night",
    sep="|",
)
_STARTS = ("the", "a", "my", "her", "his", "our", "their", "this", "that", "every")
_LINKS = ("and", "but", "because", "so", "while", "when")


def corpus_lines(*, count: int = 600, seed: int = SEED) -> list[str]:
    """Deterministic simple English sentences from the built-in word list."""
    rng = random.Random(seed)  # noqa: S311 - not security relevant

    def phrase() -> str:
        words = [rng.choice(_STARTS)]
        if rng.random() < 0.6:
            words.append(rng.choice(_ADJECTIVES))
        words.append(rng.choice(_NOUNS))
        return " ".join(words)

    def clause() -> str:
        if rng.random() < 0.55:
            text = f"{phrase()} {rng.choice(_VERBS)} {phrase()}"
        else:
            text = f"{phrase()} {rng.choice(_INTRANSITIVE)}"
        if rng.random() < 0.4:
            text += " " + rng.choice(_PLACES)
        return text

    lines = []
    for _ in range(count):
        text = clause()
        if rng.random() < 0.35:
            text += f" {rng.choice(_LINKS)} {clause()}"
        end = rng.choice([".", ".", ".", "!", "?"])
        text = text[0].upper() + text[1:] + end
        if rng.random() < 0.3:
            text += " " + clause().capitalize() + "."
        lines.append(text)
    # Every word at least once, so the vocab always covers the word list.
    lines.append(" ".join(_NOUNS + _ADJECTIVES + _VERBS + _INTRANSITIVE) + ".")
    return lines


def wordpiece_vocab(lines: list[str], *, vocab_size: int = VOCAB_SIZE) -> list[str]:
    """A deterministic WordPiece vocabulary: specials, characters, whole words, suffixes.

    (The ``tokenizers`` WordPiece trainer breaks ties between equally frequent pieces in
    hash order, which changes from run to run; building the list by sorted counts keeps
    the tiny models byte-for-byte reproducible.)
    """
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(word for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(line)))
    chars = sorted({ch for word in counts for ch in word})
    vocab = [*WORDPIECE_SPECIALS, *chars, *(f"##{ch}" for ch in chars)]
    vocab += [word for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    suffixes: Counter[str] = Counter()
    for word, count in counts.items():
        for start in range(1, len(word) - 1):
            suffixes[f"##{word[start:]}"] += count
    seen = set(vocab)
    for piece, _ in sorted(suffixes.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size:
            break
        if piece not in seen:
            vocab.append(piece)
            seen.add(piece)
    return vocab[:vocab_size]


def build_wordpiece_tokenizer(lines: list[str], *, vocab_size: int = VOCAB_SIZE):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = wordpiece_vocab(lines, vocab_size=vocab_size)
    tok = Tokenizer(
        models.WordPiece(
            {piece: index for index, piece in enumerate(vocab)},
            unk_token="[UNK]",  # noqa: S106 - a token, not a password
        )
    )
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",  # noqa: S106
        sep_token="[SEP]",  # noqa: S106
        pad_token="[PAD]",  # noqa: S106
        cls_token="[CLS]",  # noqa: S106
        mask_token="[MASK]",  # noqa: S106
        do_lower_case=True,
        model_max_length=TINY_SIZES["positions"],
    )


def build_bpe_tokenizer(lines: list[str], *, vocab_size: int = VOCAB_SIZE):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer
    from transformers import GPT2TokenizerFast

    eos = "<|endoftext|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[eos],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=1,
    )
    tok.train_from_iterator(lines, trainer=trainer)
    return GPT2TokenizerFast(
        tokenizer_object=tok,
        bos_token=eos,
        eos_token=eos,
        unk_token=eos,
        model_max_length=TINY_SIZES["positions"],
    )


def _save_atomically(target: Path, save) -> None:
    """Write into a temp folder beside ``target`` then swap it in: never half a model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        save(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_tiny_models(out_dir: Path, *, seed: int = SEED) -> dict[str, Path]:
    """Build ``out_dir/{bert,gpt,encoder}`` (the folder of the ``tiny`` profile)."""
    import torch
    from transformers import (
        BertConfig,
        BertForPreTraining,
        BertModel,
        GPT2Config,
        GPT2LMHeadModel,
    )

    out_dir = Path(out_dir)
    lines = corpus_lines(seed=seed)
    wordpiece = build_wordpiece_tokenizer(lines)
    bpe = build_bpe_tokenizer(lines)
    sizes = TINY_SIZES

    def bert_config() -> BertConfig:
        return BertConfig(
            vocab_size=len(wordpiece),
            hidden_size=sizes["hidden"],
            num_hidden_layers=sizes["layers"],
            num_attention_heads=sizes["heads"],
            intermediate_size=sizes["intermediate"],
            max_position_embeddings=sizes["positions"],
            pad_token_id=wordpiece.pad_token_id,
        )

    torch.manual_seed(seed)
    bert = BertForPreTraining(bert_config()).eval()
    torch.manual_seed(seed + 1)
    gpt = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(bpe),
            n_embd=sizes["hidden"],
            n_layer=sizes["layers"],
            n_head=sizes["heads"],
            n_positions=sizes["positions"],
            bos_token_id=bpe.bos_token_id,
            eos_token_id=bpe.eos_token_id,
        )
    ).eval()
    torch.manual_seed(seed + 2)
    encoder = BertModel(bert_config()).eval()

    paths = {}
    for role, model, tokenizer in (
        ("bert", bert, wordpiece),
        ("gpt", gpt, bpe),
        ("encoder", encoder, wordpiece),
    ):

        def save(folder: Path, model=model, tokenizer=tokenizer) -> None:
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)

        _save_atomically(out_dir / role, save)
        paths[role] = out_dir / role
    return paths
