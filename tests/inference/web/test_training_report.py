"""Reading the demo build's training.json for the training page."""

from __future__ import annotations

import json

from inference.web.training_report import curve_table, loss_chart, training_report


def write(settings, tmp_path, data) -> None:
    settings.MODELS_DIR = tmp_path
    (tmp_path / "demo").mkdir(exist_ok=True)
    (tmp_path / "demo" / "training.json").write_text(
        data if isinstance(data, str) else json.dumps(data)
    )


def record() -> dict:
    bert_curve = [
        {"step": s, "elapsed_s": s * 6.0, "loss": 9 - s, "mlm_loss": 8 - s, "nsp_loss": 0.7}
        for s in range(1, 8)
    ]
    gpt_curve = [{"step": s, "elapsed_s": s * 12.0, "loss": 7 - s / 2} for s in range(1, 5)]
    return {
        "state": "done",
        "mode": "full",
        "built_at": 1_700_000_000,
        "wall_seconds": {"total": 720.0},
        "machine": {"threads": 4, "precision": {"chosen": "bfloat16"}},
        "corpus": {"words": 1000,
                   "sources": {"wordnet": {"chars": 10}, "x": {"chars": 99}}},
        "models": {
            "bert": {"parameters": 1234, "config": {"num_hidden_layers": 4, "hidden_size": 256},
                     "tokenizer": {"kind": "WordPiece", "vocab_size": 8192},
                     "hyperparameters": {"batch_size": 64, "peak_lr": 0.001},
                     "training": {"steps": 7, "elapsed_seconds": 42.0}, "loss_curve": bert_curve},
            "gpt": {"parameters": 999, "config": {"n_layer": 4, "n_embd": 256},
                    "training": {"steps": 4, "elapsed_seconds": 48.0, "tokens_seen": 5000},
                    "loss_curve": gpt_curve},
        },
    }  # fmt: skip


def test_no_record_or_a_broken_one_means_not_built(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    assert training_report() is None
    write(settings, tmp_path, "{half")
    assert training_report() is None
    write(settings, tmp_path, {"state": "done"})
    assert training_report() is None


def test_report_summarises_both_models_and_the_data(settings, tmp_path):
    write(settings, tmp_path, record())
    report = training_report()
    assert report["bert"]["layers"] == 4 and report["gpt"]["layers"] == 4
    assert report["bert"]["hidden"] == 256 and report["gpt"]["hidden"] == 256
    assert report["bert"]["learning_rate"] == 0.001 and report["bert"]["minutes"] == 0.7
    assert report["gpt"]["tokens_seen"] == 5000 and report["wall_minutes"] == 12.0
    assert [s["name"] for s in report["sources"]] == [
        "x", "WordNet: definitions and example sentences"
    ]  # fmt: skip
    assert report["built_at"].year == 2023


def test_the_chart_plots_minutes_of_training_for_three_losses():
    chart = loss_chart(record())
    assert [s.key for s in chart.series] == ["bert", "nsp", "gpt"]
    assert [s.label for s in chart.series] == [
        "BERT masked LM", "BERT next sentence", "GPT causal LM"
    ]  # fmt: skip
    assert chart.x_ticks[-1].value >= 0.8  # GPT's 48 s
    assert chart.series[1].dashed and chart.series[0].last_value == 1


def test_curve_table_samples_evenly_and_keeps_the_last_point():
    rows = curve_table(record()["models"]["bert"], ("mlm_loss",), rows=3)
    assert [r["step"] for r in rows] == [1, 4, 7]
    assert rows[-1]["values"] == [1.0]
    assert curve_table({}, ("loss",)) == []


def evaluation() -> dict:
    return {
        "probes": {
            "fill_mask": {"pass_rate": 0.5, "probes": [
                {"text": "The capital of France is [MASK].", "sources": ["lesson:bert"],
                 "top5": [["paris", "lyon"]], "passes": True},
                {"text": "Bees make [MASK].", "sources": ["own"], "top5": [["wax"]],
                 "passes": False},
            ]},
            "next_sentence": {"pass_rate": 1.0, "probes": []},
            "generate": {"pass_rate": 0.0, "probes": [
                {"prompt": "Once upon a time", "sources": ["lesson:gpt"], "passes": False,
                 "continuation": "a a a", "words": 3, "repeated_phrase": None},
            ]},
        },
        "targets": {
            "fill_mask_pass_rate": {"target": 0.8, "measured": 0.5, "met": False},
            "france_paris_in_top5": {"target": True, "measured": True, "met": True},
        },
    }  # fmt: skip


def test_report_carries_the_evaluation_with_its_failures_and_lesson_probes(settings, tmp_path):
    write(settings, tmp_path, {**record(), "evaluation": evaluation()})
    ev = training_report()["evaluation"]
    assert [t["name"] for t in ev["targets"]] == ["fill_mask_pass_rate", "france_paris_in_top5"]
    assert ev["targets"][0]["label"].startswith("Fill-mask probes") and not ev["all_met"]
    assert ev["fill_mask"]["passed"] == 1 and ev["fill_mask"]["count"] == 2
    assert [p["text"] for p in ev["fill_mask"]["failed"]] == ["Bees make [MASK]."]
    assert [p["prompt"] for p in ev["generate"]["lesson"]] == ["Once upon a time"]
    assert ev["failed_count"] == 2


def test_an_early_checkpoint_reports_itself_as_early(settings, tmp_path):
    write(settings, tmp_path, {
        "state": "early", "release": {"id": "x", "stage": "early", "published_at": 1_700_000_000},
        "note": "An early checkpoint.",
        "models": {"bert": {"training": {"steps": 40}}, "gpt": {"training": {"steps": 20}}},
    })  # fmt: skip
    report = training_report()
    assert report["early"] and report["steps"] == {"bert": 40, "gpt": 20}
    assert report["published_at"].year == 2023


def test_training_page_shows_targets_and_the_early_state(client, settings, tmp_path):
    write(settings, tmp_path, {**record(), "evaluation": evaluation()})
    page = client.get("/demos/training/").content.decode()
    assert "How well they answer" in page and "Fill-mask probes with an accepted answer" in page
    assert "Bees make [MASK]." in page and "not met" in page
    assert "Every probe that failed (2)" in page
    # a learner reads the outcome in words first; the build's numbers come folded away last
    assert "BERT filled in 1 of 2 blanks" in page
    assert page.index("BERT filled in") < page.index("Fill-mask probes with an accepted answer")
    assert page.index("What they write") < page.index("Build details") < page.index("parameters:")
    write(settings, tmp_path, {
        "state": "early", "release": {"id": "x", "stage": "early", "published_at": 1_700_000_000},
        "models": {"bert": {"training": {"steps": 40}}, "gpt": {"training": {"steps": 20}}},
    })  # fmt: skip
    page = client.get("/demos/training/").content.decode()
    assert "running an early checkpoint" in page and "40 steps" in page


def test_the_page_says_which_layers_stayed_as_minilm_learnt_them(client, settings, tmp_path):
    data = record()
    for name, frozen in (("bert", 0), ("gpt", 1)):
        data["models"][name].update(
            starts_from="all-MiniLM-L6-v2", trainable_parameters=100, frozen_layers=frozen
        )
    write(settings, tmp_path, data)
    page = client.get("/demos/training/").content.decode()
    assert page.count("(the embeddings stay as they were)") == 1  # BERT trains every layer
    assert page.count("(the embeddings and the lowest 1 layer stay as they were)") == 1
