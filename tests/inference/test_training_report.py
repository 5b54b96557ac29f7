"""Reading the demo build's training.json for the training page."""

from __future__ import annotations

import json

from inference.training_report import curve_table, loss_chart, training_report


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
                   "sources": {"python-reference": {"chars": 10}, "x": {"chars": 99}}},
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
    assert [s["name"] for s in report["sources"]] == ["x", "Python language reference"]
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
