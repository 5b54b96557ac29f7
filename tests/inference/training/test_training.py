"""Tests for inference/training (the demo-model build) and `manage.py build_demo_models`."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command

from inference.training import corpus as corpus_mod
from inference.training import wordnet as wordnet_mod
from inference.training.data import SentencePairs, SpecialIds, TextBlocks
from inference.training.loop import LoopSettings, lr_at
from inference.training.masking import IGNORE_INDEX, mask_tokens
from inference.training.records import ProgressWriter, overall_percent
from inference.training.workdir import BuildError, build_lock, is_built

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


def test_masking_a_rarer_word_masks_its_other_occurrences_too():
    """A chosen word from `mask_repeats_from` on is chosen everywhere it occurs in the
    sequence, so the blank can't be answered by copying it; common words stay as they are."""
    ids, special = _batch(rows=300, seed=2)
    ids[:, 1:20:4] = torch.where(special[:, 1:20:4], ids[:, 1:20:4], 700)  # a rarer word
    ids[:, 2:20:4] = torch.where(special[:, 2:20:4], ids[:, 2:20:4], 6)  # and a common one
    kwargs = dict(
        special_mask=special,
        mask_token_id=MASK,
        random_token_ids=(FIRST_REGULAR, VOCAB),
        mlm_probability=0.15,
    )
    plain = mask_tokens(ids, generator=torch.Generator().manual_seed(0), **kwargs)[1]
    both = mask_tokens(
        ids, generator=torch.Generator().manual_seed(0), mask_repeats_from=500, **kwargs
    )[1]
    rare, common = ids == 700, ids == 6
    occurrences = rare.sum(dim=1)
    assert (occurrences >= 4).all()
    for labels, all_or_none in ((both, True), (plain, False)):
        chosen = labels != IGNORE_INDEX
        per_row = (chosen & rare).sum(dim=1)
        assert all_or_none == bool(((per_row == 0) | (per_row == occurrences)).all())
    # the common word is chosen at the plain rate, position by position
    chosen_common = ((both != IGNORE_INDEX) & common).sum(dim=1)
    assert ((chosen_common > 0) & (chosen_common < 5)).any()
    # what plain masking chose stays chosen
    assert ((plain != IGNORE_INDEX) <= (both != IGNORE_INDEX)).all()


def test_content_words_are_chosen_more_often_at_the_same_overall_rate():
    """With `content_weight` 3, ids from `content_from` on are chosen about three times as
    often as the others, and the share of chosen tokens stays at `mlm_probability`."""
    ids, special = _batch(rows=400, seed=3)
    kwargs = dict(
        special_mask=special,
        mask_token_id=MASK,
        random_token_ids=(FIRST_REGULAR, VOCAB),
        mlm_probability=0.2,
    )
    content_from = int(ids[~special].float().median())  # about half the tokens are "content"
    content = (ids >= content_from) & ~special
    other = ~content & ~special
    rates = {}
    for weight in (1.0, 3.0):
        labels = mask_tokens(
            ids,
            generator=torch.Generator().manual_seed(0),
            content_weight=weight,
            content_from=content_from,
            **kwargs,
        )[1]
        chosen = labels != IGNORE_INDEX
        assert not (chosen & special).any()
        rates[weight] = (
            chosen[~special].float().mean().item(),
            chosen[content].float().mean().item() / chosen[other].float().mean().item(),
        )
    assert rates[1.0][0] == pytest.approx(0.2, abs=0.01)
    assert rates[3.0][0] == pytest.approx(0.2, abs=0.01)
    assert rates[1.0][1] == pytest.approx(1.0, abs=0.15)
    assert rates[3.0][1] == pytest.approx(3.0, abs=0.4)


# --- corpus ----------------------------------------------------------------------------------

WORDNET_LINES = {
    "data.noun": [
        "  1 This software and database is being provided to you, the LICENSEE ...\n",
        "08932568 15 n 04 Paris 0 City_of_Light 0 French_capital 0 capital_of_France 0 000 | "
        "the capital and largest city of France; and international center of culture; "
        '"they had a nice stay in Paris"  \n',
        "08933287 15 n 01 Montmartre 0 000 | the highest point in Paris; famous for its "
        "artists  \n",
        '02084071 05 n 01 dog 0 000 | a member of the genus Canis; "the dog barked all night"  \n',
        "02083346 05 n 01 Canis 0 000 | type genus of the Canidae: domestic and wild dogs  \n",
        "04021798 06 n 01 water 0 000 | binary compound that occurs as a clear liquid; "
        '"he asked for a glass of water"  \n',
        "10000001 18 n 01 Diane_de_Poitiers 0 000 | French noblewoman of the 16th century  \n",
    ],
    "data.verb": [
        "01926311 38 v 01 run 0 000 | move fast by using one's feet; "
        '"Don\'t run--you\'ll be out of breath"; "The children ran to the store"  \n',
    ],
    "data.adj": [
        "00014490 00 a 01 tired(p) 0 000 | depleted of strength or energy; "
        '"tired mothers with crying babies"  \n',
    ],
    "data.adv": [],
    "index.noun": ["paris n 1 0 1 0 08932568\n", "dog n 1 0 1 0 02084071\n"],
    "index.verb": ["run v 1 0 1 0 01926311\n"],
    "index.adj": ["tired a 1 0 1 0 00014490\n"],
    "index.adv": [],
    "verb.exc": ["ran run\n"],
}


def _fake_wordnet(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, lines in WORDNET_LINES.items():
        (root / name).write_text("".join(lines), encoding="latin-1")
    return root


def test_wordnet_senses_become_everyday_sentences(tmp_path):
    from inference.training import wordnet

    senses = {s.lemmas[0]: s for s in wordnet.synsets(_fake_wordnet(tmp_path))}
    paris = senses["Paris"]
    assert paris.lexfile == 15 and paris.lemmas[-1] == "capital of France"
    assert paris.examples == ("they had a nice stay in Paris",)
    assert wordnet.synset_sentences(paris) == [
        ("Paris is the capital and largest city of France.", wordnet.DEFINITION),
        (
            "Paris is also called City of Light, French capital or capital of France.",
            wordnet.DEFINITION,
        ),
        # a capital's gloss read the other way round too (the direction questions ask in)
        ("The capital and largest city of France is Paris.", wordnet.DEFINITION),
        ("The capital of France is Paris.", wordnet.DEFINITION),
        ("They had a nice stay in Paris.", wordnet.EXAMPLE),
    ]
    # only capitals: other place glosses are not turned round
    assert wordnet.capital_sentences(senses["Montmartre"]) == []
    assert wordnet.definition_sentence(senses["dog"]) == "A dog is a member of the genus Canis."
    assert wordnet.definition_sentence(senses["water"]).startswith("Water is a binary compound")
    assert (
        wordnet.definition_sentence(senses["run"]) == "To run is to move fast by using one's feet."
    )
    assert (
        wordnet.definition_sentence(senses["tired"])
        == "Tired means depleted of strength or energy."
    )
    # taxonomy and named people are not everyday English; places and things are
    assert not wordnet.is_everyday(senses["Canis"])
    assert not wordnet.is_everyday(senses["Diane de Poitiers"])
    assert wordnet.is_everyday(paris) and wordnet.is_everyday(senses["dog"])


def test_missing_wordnet_says_how_to_install_it(tmp_path):
    from inference.training import wordnet

    with pytest.raises(wordnet.WordNetMissing, match="wordnet-base"):
        list(wordnet.synsets(tmp_path / "nowhere"))


def test_dictionary_words_include_inflections_and_closed_class_words(tmp_path):
    from inference.training import wordnet

    lemmas = wordnet.lemma_set(_fake_wordnet(tmp_path))
    for word in ("dogs", "running", "ran", "tired", "the", "they", "Paris", "runs", "doesn't"):
        assert wordnet.is_dictionary_word(word, lemmas), word
    for word in ("fra", "zzq", "##n", "canis"):
        assert not wordnet.is_dictionary_word(word, lemmas), word


def test_corpus_is_deterministic_keeps_probes_out_and_round_trips(tmp_path):
    wn = _fake_wordnet(tmp_path / "wn")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "01-x.md").write_text(
        "---\ntitle: X\n---\nBERT reads the whole sentence at once. It sees both sides.\n\n"
        '## Demo\n\n```demo fill-mask\ntext: "The capital of France is [MASK]."\n```\n\n'
        "The capital of France is Paris, as every learner knows.\n"
    )
    probe_filter = corpus_mod.ProbeFilter(
        masked=["The capital of France is [MASK]."], sentences=["They had a nice stay in Paris."]
    )
    prose = _fake_prose(tmp_path / "prose")
    first = corpus_mod.build_corpus(
        wordnet_dir=wn, lessons_dir=lessons, probe_filter=probe_filter, prose_directory=prose
    )
    second = corpus_mod.build_corpus(
        wordnet_dir=wn, lessons_dir=lessons, probe_filter=probe_filter, prose_directory=prose
    )
    assert first.fingerprint() == second.fingerprint()
    text = " ".join(d.text for d in first.documents)
    assert "Paris is the capital and largest city of France." in text
    assert "BERT reads the whole sentence at once." in text
    assert "nice stay" not in text and "The capital of France is Paris" not in text
    # the lesson's sentence, the example, and the capital gloss turned round ("The capital of
    # France is Paris."), which is the probe's answer
    assert first.excluded == {"sentences": 3}
    assert "The capital and largest city of France is Paris." in text
    assert "Thank you very much for coming tonight." in text  # running prose
    assert "genus of the Canidae" not in text and "noblewoman" not in text
    # neighbouring senses of one lexicographer file share a document
    by_id = {d.doc_id: d for d in first.documents}
    assert "Montmartre is the highest point in Paris." in by_id["wordnet:n:08932568"].sentences
    assert all(len(d.kinds) == len(d.sentences) for d in first.documents)
    first.save(tmp_path / "c.jsonl")
    loaded = corpus_mod.Corpus.load(tmp_path / "c.jsonl")
    assert loaded.fingerprint() == first.fingerprint()
    assert [d.kinds for d in loaded.documents] == [d.kinds for d in first.documents]
    assert first.stats()["excluded_for_probes"] == {"sentences": 3}


def _fake_prose(base: Path) -> Path:
    """The two npm packages' layout, a few lines each."""
    moby = base / "datasets-moby-dick" / "data"
    sotu = base / "datasets-sotu" / "data"
    moby.mkdir(parents=True)
    sotu.mkdir(parents=True)
    (moby / "chapter_2.txt").write_text(
        "CHAPTER 2. The Carpet-Bag.\n\nI stuffed a shirt or two into my old carpet-bag, "
        "tucked it under my arm, and started for Cape Horn. Quitting the good city of old "
        "Manhatto, I duly arrived in New Bedford.\n"
    )
    (moby / "chapter_1.txt").write_text(
        "CHAPTER 1. Loomings.\n\nCall me Ishmael, for that is the name I go by. Thou art "
        "a whale, and thy spout is high. There is nothing surprising in this.\n\n"
        "The next paragraph starts a new run of sentences.\n"
    )
    (sotu / "1945_harry_s_truman_d.txt").write_text("An address from before the cut-off year.\n")
    (sotu / "2021_joseph_r_biden_d.txt").write_text(
        "Thank you. (Applause.) Thank you very much for coming tonight. We will build roads "
        "and bridges. (Laughter.) Our children deserve good schools and safe streets.\n"
    )
    return base


def test_prose_documents_keep_running_sentences_in_order(tmp_path):
    base = _fake_prose(tmp_path)
    files = corpus_mod.prose_files(base)
    assert [(source, path.name) for source, path in files] == [
        ("moby-dick", "chapter_1.txt"),
        ("moby-dick", "chapter_2.txt"),
        ("sotu", "2021_joseph_r_biden_d.txt"),  # 1945 is before PROSE_FIRST_YEAR
    ]
    docs = {doc_id: [s for s, _ in run] for doc_id, _, run, _ in corpus_mod.prose_documents(base)}
    # the archaic sentence ends a run: neighbours in a document really followed each other
    assert docs["moby-dick:chapter_1:1:0"] == ["Call me Ishmael, for that is the name I go by."]
    assert docs["moby-dick:chapter_1:1:1"] == ["There is nothing surprising in this."]
    assert docs["moby-dick:chapter_1:2:0"] == ["The next paragraph starts a new run of sentences."]
    assert docs["sotu:2021_joseph_r_biden_d:0:0"] == [
        "Thank you very much for coming tonight.",
        "We will build roads and bridges.",
        "Our children deserve good schools and safe streets.",
    ]  # "(Applause.)" is gone, and "Thank you." is too short to keep
    assert not any("CHAPTER" in s for run in docs.values() for s in run)
    kinds = {kind for _, _, run, _ in corpus_mod.prose_documents(base) for _, kind in run}
    assert kinds == {wordnet_mod.PROSE}
    assert corpus_mod.prose_files(tmp_path / "nowhere") == []


def test_the_prose_packages_are_pinned_alike_in_the_makefile_and_the_image():
    root = Path(__file__).resolve().parents[3]
    makefile = (root / "Makefile").read_text()
    dockerfile = (root / "Dockerfile").read_text()
    for package in corpus_mod.PROSE_PACKAGES:
        assert package in makefile and package in dockerfile, package


def test_probe_filter_matches_any_word_in_the_blank_and_nothing_else():
    probe_filter = corpus_mod.ProbeFilter(masked=["Rome is the capital of [MASK]."])
    assert probe_filter.rejects("Rome is the capital of Italy.")
    assert probe_filter.rejects("Everyone knows rome is the capital of italy, of course.")
    assert not probe_filter.rejects("Paris is the capital of France.")
    assert not probe_filter.rejects("Rome is the capital.")


def test_installed_wordnet_corpus_slice_is_deterministic_and_split_is_stable(tmp_path):
    a = corpus_mod.build_corpus(max_synsets=2000)
    b = corpus_mod.build_corpus(max_synsets=2000)
    assert a.fingerprint() == b.fingerprint()
    assert a.stats()["chars"] > 50_000
    train, held = a.split(10)
    assert {d.doc_id for d in held} == {d.doc_id for d in b.split(10)[1]}
    assert 0 < len(held) < len(train)


# --- probes ------------------------------------------------------------------------------------


def test_probe_file_covers_every_demo_default_and_has_forty_own_probes(settings):
    from inference.contract.examples.inputs import example_inputs
    from inference.training.probes import load_probes

    probes = load_probes()
    listed = probes.inputs()
    for item in example_inputs():
        params = item.params
        if item.kind == "next-sentence":
            main = f"{params['sentence_a']}\n{params['sentence_b']}"
        elif item.kind == "embeddings":
            main = "\n".join(str(params[k]) for k in ("word", "sentence_a", "sentence_b"))
        else:
            main = params.get("text") or params.get("prompt")
        assert (item.kind, main) in listed, f"{item.kind} {main!r} ({item.source}) has no probe"
    own = [
        p
        for section in (probes.fill_mask, probes.next_sentence, probes.generate)
        for p in section
        if p.sources == ("own",)
    ]
    assert len(own) >= 40
    assert {True, False} == {p.follows for p in probes.next_sentence if p.sources == ("own",)}


def test_probe_checks():
    from inference.training import probes

    accept = (frozenset({"paris"}),)
    assert probes.fill_mask_passes([["city", "Paris", "a", "b", "c"]], accept)
    assert not probes.fill_mask_passes([["city", "a", "b", "c", "d", "paris"]], accept)
    assert probes.fill_mask_passes([["##paris"]], accept)
    assert probes.next_sentence_passes(0.7, True) and probes.next_sentence_passes(0.3, False)
    assert not probes.next_sentence_passes(0.5, True) and not probes.next_sentence_passes(
        0.5, False
    )

    def is_word(word):
        return word.lower() not in {"zork", "blib"}

    good = probes.continuation_check(
        "there was a little girl who lived with her mother in a small house.", is_word
    )
    assert good["passes"] and good["words"] == 14 and good["repeated_phrase"] is None
    loop = probes.continuation_check(
        "a person who is a member of a person who is a member", is_word
    )
    assert not loop["passes"] and loop["repeated_phrase"] == "a person who"
    short = probes.continuation_check("the end.", is_word)
    assert not short["passes"] and short["words"] == 2
    junk = probes.continuation_check(
        "zork blib the zork of blib and a house near the sea today", is_word
    )
    assert not junk["passes"] and junk["unknown_words"] == ["blib", "zork"]


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


def test_random_next_sentences_start_with_the_same_kind_as_real_ones():
    """Definitions follow definitions and examples follow examples in the random Bs too, so
    the next-sentence head can't tell the label from the style of B."""
    rng = np.random.default_rng(0)
    kinds, docs = [], []
    for _ in range(60):
        kind = [0, 1, 1, 0, 1, 1]
        kinds.append(tuple(kind))
        # token 10 starts a definition, token 20 an example: B's first token shows its kind
        docs.append([[10 if k == 0 else 20, *rng.integers(30, 900, 5).tolist()] for k in kind])
    special = SpecialIds(cls=CLS, sep=SEP, pad=PAD)
    pairs = SentencePairs(docs, max_length=16, typical_length=16, special=special, kinds=kinds)
    first_of_b = {0: [], 1: []}
    for _ in range(600):
        a, b, label = pairs.pair(rng)
        first_of_b[label].append(b[0])
    real = np.mean([t == 20 for t in first_of_b[0]])
    random_b = np.mean([t == 20 for t in first_of_b[1]])
    assert abs(real - random_b) < 0.08
    unmatched = SentencePairs(docs, max_length=16, typical_length=16, special=special)
    random_b_unmatched = np.mean(
        [b[0] == 20 for a, b, label in (unmatched.pair(rng) for _ in range(600)) if label == 1]
    )
    assert random_b_unmatched != pytest.approx(real, abs=0.02) or real > 0.6


def test_random_next_sentences_can_share_a_word_as_often_as_real_ones():
    """Documents whose sentences all repeat the document's own word (as WordNet's runs repeat
    their head word): plainly drawn, "B shares a word of A" gives the label away; with
    shared-word negatives, random Bs share one about as often, and still never come from A's
    document or start one."""
    rng = np.random.default_rng(0)
    docs = []
    for d in range(80):
        head = 1000 + d % 40  # two documents share each head word
        docs.append([[head, *rng.integers(3000, 9000, 4).tolist()] for _ in range(6)])
    special = SpecialIds(cls=CLS, sep=SEP, pad=PAD)

    def sharing(pairs: SentencePairs) -> dict[int, float]:
        found: dict[int, list[bool]] = {0: [], 1: []}
        draw = np.random.default_rng(1)
        for _ in range(800):
            a, b, label = pairs.pair(draw)
            found[label].append(pairs.shares_word(a, b))
        return {label: float(np.mean(values)) for label, values in found.items()}

    plain = SentencePairs(
        docs, max_length=32, typical_length=32, special=special, content_from=1000
    )
    shared = SentencePairs(
        docs,
        max_length=32,
        typical_length=32,
        special=special,
        shared_word_negatives=1.0,
        content_from=1000,
    )
    plain_rates, shared_rates = sharing(plain), sharing(shared)
    assert plain_rates[0] == 1.0 and plain_rates[1] < 0.1
    # (a word of A found only in A's own document leaves a few drawn as usual)
    assert shared_rates[0] == 1.0 and shared_rates[1] > 0.7
    place = shared._shared_word_start(rng, docs[0][0], 0, None)
    assert place is not None and place[0] == 40 and place[1] >= 1  # the other "1000" doc


def test_word_balanced_pairs_match_the_real_continuations_rate():
    """The evaluation's second next-sentence check: the share of shared-word random
    continuations is chosen so that random Bs hold a word of A as often as real ones."""
    from inference.training.bert import balance_shared_words, sharing_rates

    rng = np.random.default_rng(2)
    docs = []
    for d in range(120):
        head = 1000 + d % 30
        # a sentence names the document's head word or not, at random: only some real
        # continuations share a word with A
        docs.append(
            [
                [head if rng.random() < 0.6 else 2000, *rng.integers(3000, 9000, 4).tolist()]
                for _ in range(6)
            ]
        )
    special = SpecialIds(cls=CLS, sep=SEP, pad=PAD)

    def make(share: float) -> SentencePairs:
        return SentencePairs(
            docs,
            max_length=12,
            typical_length=12,
            special=special,
            shared_word_negatives=share,
            content_from=1000,
        )

    real, plain = sharing_rates(make(0.0))
    balanced = make(1.0)
    balance_shared_words(balanced)
    real_after, random_after = sharing_rates(balanced, seed=7)

    assert plain < real - 0.15  # plainly drawn, sharing a word gives the label away
    assert 0.0 < balanced.shared_word_negatives < 1.0
    assert abs(random_after - real_after) < 0.1, (real, plain, real_after, random_after)


def test_text_blocks_start_with_bos_when_given():
    docs = [list(range(5, 5 + n)) for n in (30, 50, 70)]
    blocks = TextBlocks(docs, block_size=16, eos_id=0, seed=3, bos_id=1)
    assert blocks.blocks.shape[1] == 16 and (blocks.blocks[:, 0] == 1).all()
    assert blocks.blocks[0, 1:].tolist() == list(range(5, 20))


def test_unlikelihood_penalises_exactly_the_earlier_tokens_but_the_answer():
    from inference.training.gpt import unlikelihood_loss

    ids = torch.tensor([[5, 6, 5, 7]])
    uniform = torch.zeros(1, 3, 10)  # p = 0.1 everywhere
    # predicting 6 after {5}: 5 is penalised; 5 after {5, 6}: only 6 (5 is the answer);
    # 7 after {5, 6, 5}: 5 and 6
    expected = -np.log(0.9) * (1 + 1 + 2) / 3
    assert unlikelihood_loss(uniform, ids).item() == pytest.approx(expected, rel=1e-5)
    confident_repeat = uniform.clone()
    confident_repeat[0, 2, 5] = 8.0  # the model wants to say 5 again
    assert unlikelihood_loss(confident_repeat, ids) > unlikelihood_loss(uniform, ids) + 1


def test_unlikelihood_counts_a_token_seen_twice_once():
    from inference.training.gpt import unlikelihood_loss

    ids = torch.tensor([[5, 5, 5, 7]])
    uniform = torch.zeros(1, 3, 10)
    # 5 after {5}: the answer, nothing; again; 7 after {5, 5, 5}: 5, counted once
    assert unlikelihood_loss(uniform, ids).item() == pytest.approx(-np.log(0.9) / 3, rel=1e-5)


def test_repeated_ngrams_mark_every_token_of_the_repeat_after_the_prompt():
    from inference.training.gpt import repeated_ngram_positions

    assert repeated_ngram_positions([1, 2, 3, 4, 1, 2, 3, 5], 2, 3) == [4, 5, 6]
    # a continuation that repeats the prompt is a loop too, the prompt itself is not marked
    assert repeated_ngram_positions([1, 2, 3, 1, 2, 3], 3, 3) == [3, 4, 5]
    assert repeated_ngram_positions([9, 1, 2, 3, 4, 1, 2], 1, 3) == []


def test_sentence_prompts_start_after_a_full_stop_behind_the_start_token():
    from inference.training.gpt import sentence_prompts

    docs = [[20, 21, 9, 30, 31, 32, 33, 34, 35, 9, 40, 41] * 4]
    blocks = TextBlocks(docs, block_size=12, eos_id=0, seed=0, bos_id=1)
    prompts = sentence_prompts(blocks, 0, 2, 3, bos_id=1, end_ids=frozenset({9}))
    assert prompts.shape == (2, 4)
    for row in prompts.tolist():
        assert row[0] == 1 and row[1] in {30, 40}


def _tiny_causal_lm(vocab: int = 12):
    from transformers import BertConfig, BertLMHeadModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        is_decoder=True,
        pad_token_id=0,
        eos_token_id=11,
        bos_token_id=1,
    )
    model = BertLMHeadModel(config)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 11
    return model


def test_sequence_unlikelihood_breaks_the_greedy_loop_it_finds():
    """A model that loops greedily gets a positive loss, and a few steps on that loss alone
    make its greedy continuation loop less."""
    from inference.training.gpt import SequenceUnlikelihood, sequence_unlikelihood_loss

    model = _tiny_causal_lm()
    with torch.no_grad():  # make it love token 4: "4 4 4 4 ..." is a loop
        model.cls.predictions.decoder.bias.zero_()
        model.cls.predictions.decoder.bias[4] = 6.0
    settings = SequenceUnlikelihood(new_tokens=12, ngram=3)
    prompts = torch.tensor([[1, 5, 6], [1, 7, 8]])
    loss, repeated = sequence_unlikelihood_loss(model, prompts, settings, eos_id=11)
    assert loss.item() > 0 and repeated > 0.5
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        loss, _ = sequence_unlikelihood_loss(model, prompts, settings, eos_id=11)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    _, repeated_after = sequence_unlikelihood_loss(model, prompts, settings, eos_id=11)
    assert repeated_after < repeated


def test_new_heads_get_their_own_learning_rate():
    from inference.training.loop import _param_groups

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    model[0].weight.requires_grad = False
    groups = _param_groups(model, 0.01, {"2.weight": 8.0, "2.bias": 8.0})
    by_mult = {(g["lr_multiplier"], g["weight_decay"]): len(g["params"]) for g in groups}
    assert by_mult == {(1.0, 0.0): 3, (8.0, 0.0): 1, (8.0, 0.01): 1}


def test_both_models_train_with_the_attention_the_worker_serves_them_with():
    from inference.training import bert, gpt
    from inference.training.tokenizers import gpt_tokenizer

    source = bert.minilm_dir()
    encoder = bert.build_model(bert.BertSize(layers=1), source)
    decoder = gpt.build_model(
        gpt.GptSize(layers=1), source, gpt_tokenizer(source, max_length=32), keep=list(range(500))
    )
    # the worker loads both with eager attention (worker/loading.py); so does training
    assert encoder.config._attn_implementation == "eager"
    assert decoder.config._attn_implementation == "eager"
    assert decoder.config.vocab_size == 500


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
        build_lock(work),
        pytest.raises(BuildError, match="another build is running"),
        build_lock(work),
    ):
        pass
    with build_lock(work):  # released again
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
    root = Path(__file__).resolve().parents[3]
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
        BertLMHeadModel,
        pipeline,
    )

    bert_dir, gpt_dir = quick_build / "demo" / "bert", quick_build / "demo" / "gpt"
    model, info = BertForPreTraining.from_pretrained(bert_dir, output_loading_info=True)
    assert not info["missing_keys"]
    assert BertForMaskedLM.from_pretrained(bert_dir).config.num_hidden_layers == 2
    # the MLM decoder is tied to the word embeddings, as in BERT
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    assert len(tokenizer) == 30522  # bert-base-uncased's WordPiece, as MiniLM ships it
    assert tokenizer.tokenize("France") == ["france"]  # uncased, and a whole word

    gpt = AutoModelForCausalLM.from_pretrained(gpt_dir)
    assert isinstance(gpt, BertLMHeadModel) and gpt.config.is_decoder
    gpt_tok = AutoTokenizer.from_pretrained(gpt_dir)
    ids = gpt_tok("Once upon a time")["input_ids"]
    assert ids[0] == gpt_tok.cls_token_id and gpt_tok.sep_token_id not in ids  # an open text
    assert gpt_tok.eos_token == "[SEP]"
    # causal: changing a later token leaves the earlier positions' outputs unchanged
    gpt.eval()
    with torch.no_grad():
        one = gpt(input_ids=torch.tensor([ids])).logits
        changed = ids[:-1] + [gpt_tok.convert_tokens_to_ids("dog")]
        two = gpt(input_ids=torch.tensor([changed])).logits
    assert torch.allclose(one[0, :-1], two[0, :-1], atol=1e-5)

    fill = pipeline("fill-mask", model=str(bert_dir), top_k=3)
    predictions = fill("The capital of France is [MASK].")
    assert len(predictions) == 3 and all("token_str" in p for p in predictions)
    generate = pipeline("text-generation", model=str(gpt_dir))
    out = generate("Once upon a time", max_new_tokens=5, do_sample=False)
    assert out[0]["generated_text"].lower().startswith("once upon a time")

    # worker users other than the builder can read the weights
    assert (bert_dir / "model.safetensors").stat().st_mode & 0o044 == 0o044


def test_quick_build_records_curves_metrics_probes_and_progress(quick_build):
    record = _record(quick_build)
    assert record["state"] == "done" and record["mode"] == "quick"
    assert record["release"]["stage"] == "final" and record["early_published_at"]
    corpus = record["corpus"]
    assert corpus["chars"] > 0 and corpus["sentences"] > 0 and corpus["documents"] > 0
    assert corpus["sources"]["wordnet"]["documents"] > 0 and corpus["why"]
    bert, gpt = record["models"]["bert"], record["models"]["gpt"]
    # the early stage's 6 steps, then the main stage's 6, one curve
    assert [p["step"] for p in bert["loss_curve"]] == list(range(1, 13))
    assert [p["stage"] for p in bert["loss_curve"]] == ["bert-early"] * 6 + ["bert"] * 6
    assert {"mlm_loss", "nsp_loss", "loss", "elapsed_s"} <= set(bert["loss_curve"][0])
    assert {"loss", "unlikelihood_loss", "elapsed_s"} <= set(gpt["loss_curve"][0])
    assert "unlikelihood" in gpt["objective"]
    assert 0 <= bert["heldout"]["mlm_top1_accuracy"] <= bert["heldout"]["mlm_top5_accuracy"] <= 1
    assert 0 <= bert["heldout"]["nsp_accuracy"] <= 1
    assert gpt["heldout"]["heldout_perplexity"] > 1
    assert bert["parameters"] > bert["trainable_parameters"] > 0
    assert bert["config"]["hidden_size"] == 384
    assert len(bert["samples"]) == 5 and len(bert["samples"][0]["predictions"]) == 5
    assert len(gpt["samples"]) == 5 and {"prompt", "greedy", "sampled"} <= set(gpt["samples"][0])
    assert set(record["wall_seconds"]) >= {"corpus", "bert-early", "publish", "bert", "gpt", "eval"}

    evaluation = record["evaluation"]
    probes = evaluation["probes"]
    assert len(probes["fill_mask"]["probes"]) >= 40 and 0 <= probes["fill_mask"]["pass_rate"] <= 1
    assert {"text", "top5", "passes", "sources"} <= set(probes["fill_mask"]["probes"][0])
    assert {"continuation", "words", "dictionary_share", "passes"} <= set(
        probes["generate"]["probes"][0]
    )
    assert set(evaluation["targets"]) >= {
        "fill_mask_pass_rate",
        "mlm_top1_accuracy",
        "nsp_accuracy",
        "generate_pass_rate",
        "france_paris_in_top5",
    }

    progress = json.loads((quick_build / "demo" / "progress.json").read_text())
    assert progress["state"] == "done" and progress["percent"] == 100.0
    assert not list((quick_build / "demo").glob(".*staging*"))
    assert not (quick_build / "demo" / ".work" / "bert").exists()
    assert is_built(quick_build, mode="quick") and not is_built(quick_build, mode="full")


def test_evaluate_demo_models_reports_the_targets_and_writes_them(quick_build, capsys):
    output = quick_build / "evaluation.json"
    call_command(
        "evaluate_demo_models",
        "--profile",
        "demo",
        "--dir",
        str(quick_build),
        "--output",
        str(output),
        "--save",
    )
    out = capsys.readouterr().out
    assert "fill-mask probes:" in out and "targets:" in out and "mlm_top1_accuracy" in out
    report = json.loads(output.read_text())
    assert report["profile"] == "demo" and report["heldout"]["bert"]["masked_tokens"] > 0
    assert _record(quick_build)["evaluation"]["evaluated_at"] == report["evaluated_at"]


def test_evaluate_demo_models_without_models_says_what_to_run(tmp_path):
    with pytest.raises(CommandError, match="build_demo_models"):
        call_command("evaluate_demo_models", "--profile", "demo", "--dir", str(tmp_path))


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
    checkpoint = torch.load(demo / ".work" / "bert-early" / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 3 and not checkpoint["finished"]

    # The same build with the same corpus and tokenizers, but BERT trained without a break.
    shutil.copytree(interrupted, fresh)
    (fresh / "demo" / ".work" / "bert-early" / "checkpoint.pt").unlink()
    _quick(fresh)
    _quick(interrupted)

    bert = _record(interrupted)["models"]["bert"]
    assert bert["training"]["resumed_from_step"] == 3
    assert bert["training"]["steps"] == 12
    assert [p["step"] for p in bert["loss_curve"]] == list(range(1, 13))
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
