"""Pre-train the site's own small BERT and GPT offline: `manage.py build_demo_models`.

Writes MODELS_DIR/demo/{bert,gpt}/ (Hugging Face folders), training.json and progress.json.
See inference/training/build.py for the stages and inference/training/corpus.py for the data.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Pre-train the demo BERT (masked LM + next sentence) and GPT (causal LM), both starting "
        "from all-MiniLM-L6-v2, on everyday English (WordNet and the lessons); resumable, "
        "time-budgeted, with an early checkpoint the demos serve after about two minutes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", type=Path, help="MODELS_DIR to build into (default: settings)")
        parser.add_argument(
            "--minutes", type=float, default=14.5, help="total wall-time budget (default 14.5)"
        )
        parser.add_argument("--force", action="store_true", help="rebuild a finished build")
        parser.add_argument(
            "--quick", action="store_true", help="tiny corpus and models, a few steps (tests)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
        parser.add_argument(
            "--precision",
            choices=["auto", "float32", "bfloat16"],
            default="auto",
            help="training matmul precision; auto measures whether bfloat16 is faster here",
        )
        parser.add_argument(
            "--stop-after-steps",
            type=int,
            help="interrupt each training stage after this many steps (a checkpoint is kept; "
            "rerun to resume)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args, **options) -> None:
        # On a machine whose cores are shared, OpenMP threads that spin while they wait turn
        # every stolen time slice into a stall of the whole step (we measured 10x slower
        # steps); sleeping waits keep the build's speed steady. Set before torch loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from inference.training.build import BuildError, BuildOptions, build_demo_models
        from inference.training.loop import BuildInterrupted
        from inference.training.wordnet import WordNetMissing

        models_dir = options["dir"] or Path(settings.MODELS_DIR)
        if options["minutes"] <= 0:
            raise CommandError("--minutes must be positive")
        build_options = BuildOptions(
            models_dir=models_dir,
            minutes=options["minutes"],
            quick=options["quick"],
            force=options["force"],
            seed=options["seed"],
            threads=options["threads"],
            precision=options["precision"],
            stop_after_steps=options["stop_after_steps"],
            log=lambda message: self.stdout.write(message),
            progress_bars=not options["no_progress"],
            lessons_dir=Path(settings.BASE_DIR) / "lessons" / "content",
        )
        try:
            record = build_demo_models(build_options)
        except BuildInterrupted as exc:
            raise CommandError(f"{exc}; run the command again to resume") from exc
        except (BuildError, WordNetMissing) as exc:
            raise CommandError(str(exc)) from exc
        if record.get("skipped"):
            return
        self._summary(record, models_dir)

    def _summary(self, record: dict, models_dir: Path) -> None:
        bert, gpt = record["models"]["bert"], record["models"]["gpt"]
        out = self.stdout
        out.write(self.style.SUCCESS(f"Demo models written to {Path(models_dir) / 'demo'}"))
        out.write(f"wall time: {record['wall_seconds']}")
        out.write(
            f"BERT {bert['parameters']:,} params, {bert['training']['steps']} steps, "
            f"final {bert['final_loss']}, held-out {bert['heldout']}"
        )
        out.write(
            f"GPT {gpt['parameters']:,} params, {gpt['training']['steps']} steps, "
            f"final {gpt['final_loss']}, held-out {gpt['heldout']}"
        )
        for sample in bert["samples"]:
            guesses = ", ".join(f"{p['token']} ({p['score']:.2f})" for p in sample["predictions"])
            out.write(f"  {sample['text']}  ->  {guesses}")
        for sample in gpt["samples"]:
            out.write(f"  {sample['prompt']!r} greedy: {sample['greedy']!r}")
            out.write(f"  {sample['prompt']!r} sampled: {sample['sampled']!r}")
