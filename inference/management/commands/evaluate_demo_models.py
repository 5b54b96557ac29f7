"""Judge a profile's models: `manage.py evaluate_demo_models [--profile demo|full|tiny]`.

Prints the held-out metrics on the everyday-English corpus (masked top-1/top-5, next-sentence
accuracy, GPT perplexity), the probe pass rates of `inference/training/probes.yaml` and
whether each target is met; writes the same as JSON (default MODELS_DIR/<profile>/
evaluation.json). The demo build runs this evaluation at its end and keeps it in
training.json; `--save` refreshes that copy.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings


class Command(BaseCommand):
    help = "Run the probe set and the held-out metrics on a profile's built models."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--profile", choices=["demo", "full", "tiny"], default="demo")
        parser.add_argument("--dir", type=Path, help="MODELS_DIR to read (default: settings)")
        parser.add_argument("--output", type=Path, help="where to write the JSON report")
        parser.add_argument(
            "--save", action="store_true", help="demo profile: store the figures in training.json"
        )

    def handle(self, *args, **options) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        models_dir = Path(options["dir"] or settings.MODELS_DIR)
        with override_settings(MODELS_DIR=models_dir):
            report = self.evaluate(options["profile"], models_dir)
        from inference.training.evaluate import report_lines

        for line in report_lines(report):
            self.stdout.write(line)
        output = options["output"] or models_dir / options["profile"] / "evaluation.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"Report written to {output}"))
        if options["save"]:
            self.save(models_dir, options["profile"], report)

    def evaluate(self, profile: str, models_dir: Path) -> dict:
        from inference.contract import registry
        from inference.training import corpus as corpus_mod
        from inference.training import probes as probes_mod
        from inference.training.evaluate import evaluate_roles, heldout_metrics, targets_met
        from inference.training.recipes import FULL, QUICK
        from inference.training.records import read_json
        from inference.training.wordnet import WordNetMissing
        from inference.worker.loading import ModelsMissing, load_role, set_offline_env

        set_offline_env()
        specs = registry.profile_specs(profile)
        missing = registry.missing_specs(specs)
        if missing:
            hint = {"demo": "build_demo_models", "tiny": "build_tiny_models"}.get(
                profile, "download_models"
            )
            folders = ", ".join(str(spec.path) for spec in missing)
            raise CommandError(f"No {profile} models in {folders}: run manage.py {hint} first.")
        started = time.monotonic()
        try:
            roles = {role: load_role(spec, device="cpu") for role, spec in specs.items()}
        except ModelsMissing as exc:
            raise CommandError(str(exc)) from exc
        record = read_json(models_dir / "demo" / "training.json") if profile == "demo" else None
        recipe = QUICK if (record or {}).get("mode") == "quick" else FULL
        try:
            corpus = corpus_mod.build_corpus(
                lessons_dir=Path(settings.BASE_DIR) / "lessons" / "content",
                probe_filter=corpus_mod.ProbeFilter.from_probes(probes_mod.load_probes()),
                max_synsets=recipe.max_synsets,
            )
        except WordNetMissing as exc:
            raise CommandError(str(exc)) from exc
        _train, held = corpus.split(recipe.holdout_percent)
        bert, gpt = roles["bert"], roles["gpt"]
        heldout = heldout_metrics(
            (bert.model, bert.tokenizer) if bert.has_nsp else None,
            (gpt.model, gpt.tokenizer),
            held,
            pairs=recipe.bert_eval_pairs,
            blocks=recipe.gpt_eval_blocks,
        )
        probes = evaluate_roles(roles["bert"], roles["gpt"], roles["encoder"])
        return {
            "profile": profile,
            "models": {role: loaded.info["name"] for role, loaded in roles.items()},
            "release": (record or {}).get("release"),
            "heldout": heldout,
            "probes": probes,
            "targets": targets_met(heldout, probes),
            "evaluated_at": time.time(),
            "seconds": round(time.monotonic() - started, 1),
        }

    def save(self, models_dir: Path, profile: str, report: dict) -> None:
        from inference.training.records import read_json, write_json_atomic

        if profile != "demo":
            raise CommandError("--save keeps the figures in the demo build's training.json only")
        path = models_dir / "demo" / "training.json"
        record = read_json(path)
        if not record:
            raise CommandError(f"No training.json in {path.parent}")
        record["evaluation"] = report
        write_json_atomic(path, record)
        self.stdout.write(f"Figures stored in {path}")
