"""Judge built models: held-out metrics on the everyday corpus, and the probe set.

`evaluate_roles(bert, gpt, encoder)` runs every probe through the same engine functions the
worker's demos call (so a probe sees exactly what a learner would), and
`heldout_metrics((bert, tok), (gpt, tok), held_docs)` measures masked-token accuracy, next-sentence
accuracy and perplexity on the held-out documents of the corpus. `manage.py
evaluate_demo_models` and the end of `build_demo_models` both use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from inference.training import probes as probes_mod
from inference.training import wordnet as wordnet_mod

if TYPE_CHECKING:
    from inference.worker.loading import Loaded


def _word_checker() -> Callable[[str], bool]:
    lemmas = wordnet_mod.lemma_set()
    return lambda word: wordnet_mod.is_dictionary_word(word, lemmas)


def _rate(results: list[dict]) -> float:
    return round(sum(r["passes"] for r in results) / len(results), 4) if results else 0.0


def run_fill_mask(bert: Loaded, probes: probes_mod.Probes) -> list[dict]:
    from inference.worker.engine.fill_mask import fill_mask_batch

    outputs = fill_mask_batch(bert, [p.text for p in probes.fill_mask], top_k=probes_mod.TOP_K)
    results = []
    for probe, output in zip(probes.fill_mask, outputs, strict=True):
        predictions = [
            [probes_mod.clean_token(c["token"]) for c in mask["predictions"]]
            for mask in output["masks"]
        ]
        results.append(
            {
                "text": probe.text,
                "sources": list(probe.sources),
                "top5": predictions,
                "passes": probes_mod.fill_mask_passes(predictions, probe.accept),
            }
        )
    return results


def run_next_sentence(bert: Loaded, probes: probes_mod.Probes) -> list[dict]:
    from inference.worker.engine.next_sentence import next_sentence_batch

    pairs = [(p.a, p.b) for p in probes.next_sentence]
    outputs = next_sentence_batch(bert, pairs)
    results = []
    for probe, output in zip(probes.next_sentence, outputs, strict=True):
        is_next = output.get("is_next")
        results.append(
            {
                "a": probe.a,
                "b": probe.b,
                "follows": probe.follows,
                "sources": list(probe.sources),
                "is_next": None if is_next is None else round(float(is_next), 4),
                "passes": is_next is not None
                and probes_mod.next_sentence_passes(float(is_next), probe.follows),
            }
        )
    return results


def run_generate(gpt: Loaded, probes: probes_mod.Probes) -> list[dict]:
    from inference.worker.engine.generate import generate
    from inference.worker.engine.next_token import next_token_batch

    is_word = _word_checker()
    firsts = next_token_batch(gpt, [p.prompt for p in probes.generate], top_k=probes_mod.TOP_K)
    results = []
    for probe, first in zip(probes.generate, firsts, strict=True):
        output = generate(gpt, prompt=probe.prompt, max_new_tokens=probe.max_new_tokens)
        check = probes_mod.continuation_check(output["text"], is_word)
        top5 = [probes_mod.clean_token(c["token"]) for c in first.result["candidates"]]
        first_ok = not probe.accept or any(t in probe.accept for t in top5)
        results.append(
            {
                "prompt": probe.prompt,
                "sources": list(probe.sources),
                "continuation": output["text"],
                "next_top5": top5,
                **check,
                "expected_next": bool(probe.accept),
                "next_ok": first_ok,
                "passes": bool(check["passes"] and first_ok),
            }
        )
    return results


def run_shown(bert: Loaded, gpt: Loaded, encoder: Loaded, probes: probes_mod.Probes) -> list:
    """Attention, tokenize and embeddings inputs: the engine answers; no [UNK] for BERT."""
    from inference.worker.engine import attention, embeddings, tokenize

    results = []
    for probe in probes.shown:
        params = probe.params
        if probe.kind == "attention":
            attention.attention(bert, gpt, text=params["text"])
            texts = [params["text"]]
        elif probe.kind == "tokenize":
            tokenize.tokenize(bert, gpt, text=params["text"])
            texts = [params["text"]]
        else:
            embeddings.embeddings(bert, encoder, **params)
            texts = [params["sentence_a"], params["sentence_b"]]
        unknown = [
            text
            for text in texts
            if bert.tokenizer.unk_token_id in bert.tokenize(text)["input_ids"]
        ]
        results.append(
            {
                "kind": probe.kind,
                "params": params,
                "sources": list(probe.sources),
                "unknown_tokens_in": unknown,
            }
        )
    return results


def evaluate_roles(
    bert: Loaded, gpt: Loaded, encoder: Loaded | None = None, *, probes=None
) -> dict:
    """Every probe, run through the demo engines; pass rates and each probe's answer."""
    probes = probes or probes_mod.load_probes()
    fill = run_fill_mask(bert, probes)
    nsp = run_next_sentence(bert, probes)
    gen = run_generate(gpt, probes)
    report = {
        "fill_mask": {"pass_rate": _rate(fill), "probes": fill},
        "next_sentence": {"pass_rate": _rate(nsp), "probes": nsp},
        "generate": {"pass_rate": _rate(gen), "probes": gen},
    }
    if encoder is not None:
        report["shown"] = run_shown(bert, gpt, encoder, probes)
    lesson = [
        item
        for section in ("fill_mask", "next_sentence", "generate")
        for item in report[section]["probes"]
        if any(source.startswith("lesson:") for source in item["sources"])
    ]
    report["lesson_defaults"] = {
        "count": len(lesson),
        "passed": sum(item["passes"] for item in lesson),
        "failed": [
            item.get("text") or item.get("prompt") or item.get("a")
            for item in lesson
            if not item["passes"]
        ],
    }
    return report


def heldout_metrics(
    bert: tuple | None,
    gpt: tuple,
    held_docs,
    *,
    pairs: int = 500,
    blocks: int = 80,
    max_length: int = 64,
    block_size: int = 64,
    seed: int = 0,
    halfway: Callable[[], None] | None = None,
) -> dict:
    """Masked top-1/top-5 and NSP accuracy (BERT), loss and perplexity (GPT) on held-out
    documents, in float32. ``bert`` and ``gpt`` are (model, tokenizer) pairs (``bert`` None:
    a BERT without the NSP head, not measured); ``halfway()`` runs between the two. The build
    and ``evaluate_demo_models`` both measure with this, on pairs of up to 64 tokens and GPT
    blocks of 64."""
    from inference.training import bert as bert_stage
    from inference.training import gpt as gpt_stage
    from inference.training.corpus import Corpus
    from inference.training.data import SentencePairs, TextBlocks

    metrics: dict = {}
    if bert is not None:
        bert_model, bert_tok = bert
        bert_held = Corpus.for_bert(held_docs)
        encoded = bert_stage.encode_documents(bert_tok, bert_held)
        kinds = [doc.kinds for doc in bert_held]
        special = bert_stage.special_ids(bert_tok)
        held_pairs = SentencePairs(
            encoded, max_length=max_length, typical_length=max_length, special=special, kinds=kinds
        )
        metrics["bert"] = bert_stage.evaluate(
            bert_model, held_pairs, tokenizer=bert_tok, examples=pairs
        )
        # The same documents with random continuations that share a word of A as often as
        # real ones: what next-sentence accuracy is left without that shortcut.
        balanced = SentencePairs(
            encoded,
            max_length=max_length,
            typical_length=max_length,
            special=special,
            kinds=kinds,
            shared_word_negatives=1.0,  # builds the word index; balanced below
            content_from=bert_stage.BertSize.mask_repeats_from,
        )
        bert_stage.balance_shared_words(balanced)
        metrics["bert"]["nsp_word_balanced"] = bert_stage.next_sentence_check(
            bert_model, balanced, examples=pairs
        )
    if halfway is not None:
        halfway()
    gpt_model, gpt_tok = gpt
    held_blocks = TextBlocks(
        gpt_stage.encode_documents(gpt_tok, held_docs),
        block_size=block_size,
        eos_id=gpt_stage.eos_id(gpt_tok),
        seed=seed,
        bos_id=gpt_stage.bos_id(gpt_tok),
    )
    metrics["gpt"] = gpt_stage.evaluate(gpt_model, held_blocks, max_blocks=blocks)
    return metrics


def targets_met(heldout: dict, report: dict) -> dict[str, dict]:
    """Each target of the issue with its measured figure and whether it is met."""
    figures = {
        "fill_mask_pass_rate": report["fill_mask"]["pass_rate"],
        "mlm_top1_accuracy": heldout.get("bert", {}).get("mlm_top1_accuracy"),
        "nsp_accuracy": heldout.get("bert", {}).get("nsp_accuracy"),
        "generate_pass_rate": report["generate"]["pass_rate"],
    }
    out = {
        name: {
            "target": target,
            "measured": figures[name],
            "met": figures[name] is not None and figures[name] >= target,
        }
        for name, target in probes_mod.TARGETS.items()
    }
    france = next(
        (
            p
            for p in report["fill_mask"]["probes"]
            if p["text"] == "The capital of France is [MASK]."
        ),
        None,
    )
    out["france_paris_in_top5"] = {
        "target": True,
        "measured": bool(france and france["passes"]),
        "met": bool(france and france["passes"]),
    }
    nsp_lessons = [
        p
        for p in report["next_sentence"]["probes"]
        if any(s.startswith("lesson:") for s in p["sources"])
    ]
    out["lesson_pairs_right"] = {
        "target": len(nsp_lessons),
        "measured": sum(p["passes"] for p in nsp_lessons),
        "met": all(p["passes"] for p in nsp_lessons),
    }
    lesson = report["lesson_defaults"]
    out["lesson_defaults_pass"] = {
        "target": lesson["count"],
        "measured": lesson["passed"],
        "met": lesson["passed"] == lesson["count"],
    }
    return out


def report_lines(evaluation: dict) -> list[str]:
    """The evaluation as text: targets first, then each probe that failed."""
    lines = []
    heldout = evaluation.get("heldout", {})
    bert, gpt = heldout.get("bert", {}), heldout.get("gpt", {})
    if bert:
        lines.append(
            f"held-out (everyday English): masked top-1 {bert['mlm_top1_accuracy']:.1%}, "
            f"top-5 {bert['mlm_top5_accuracy']:.1%}, next sentence {bert['nsp_accuracy']:.1%} "
            f"({bert['heldout_pairs']} pairs, {bert['masked_tokens']} masked tokens)"
        )
        balanced = bert.get("nsp_word_balanced")
        if balanced:
            lines.append(
                f"held-out next sentence when random continuations share a word of A as often "
                f"as real ones: {balanced['nsp_accuracy']:.1%} (sharing one: real "
                f"{balanced['real_sharing_a_word']:.0%}, random "
                f"{balanced['random_sharing_a_word']:.0%}; {balanced['pairs']} pairs)"
            )
    if gpt:
        lines.append(
            f"held-out GPT perplexity {gpt['heldout_perplexity']} per token "
            f"({gpt['heldout_tokens']} tokens)"
        )
    probes = evaluation["probes"]
    for section, label in (
        ("fill_mask", "fill-mask probes"),
        ("next_sentence", "next-sentence probes"),
        ("generate", "GPT probes"),
    ):
        items = probes[section]["probes"]
        passed = sum(item["passes"] for item in items)
        lines.append(f"{label}: {passed}/{len(items)} pass ({probes[section]['pass_rate']:.0%})")
    lines.append("targets:")
    for name, target in evaluation["targets"].items():
        mark = "met" if target["met"] else "NOT met"
        lines.append(f"  {name}: {target['measured']} (target {target['target']}) {mark}")
    lines.append("failed probes:")
    for item in probes["fill_mask"]["probes"]:
        if not item["passes"]:
            lines.append(f"  {item['text']} -> {', '.join('/'.join(t) for t in item['top5'])}")
    for item in probes["next_sentence"]["probes"]:
        if not item["passes"]:
            lines.append(
                f"  {item['a']} | {item['b']} -> IsNext {item['is_next']} "
                f"(should {'follow' if item['follows'] else 'not follow'})"
            )
    for item in probes["generate"]["probes"]:
        if not item["passes"]:
            why = []
            if item["words"] < probes_mod.MIN_WORDS:
                why.append(f"{item['words']} words")
            if item["dictionary_share"] < probes_mod.MIN_DICTIONARY_SHARE:
                why.append(f"unknown words {item['unknown_words']}")
            if item["repeated_phrase"]:
                why.append(f"repeats “{item['repeated_phrase']}”")
            if not item["next_ok"]:
                why.append(f"next token {item['next_top5']}")
            lines.append(f"  {item['prompt']!r} -> {item['continuation']!r} ({'; '.join(why)})")
    return lines
