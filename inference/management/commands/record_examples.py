"""Record the stored example results the playground and lessons show before a worker answers.

    manage.py record_examples                 # the active profile, into inference/examples/
    manage.py record_examples --profile demo  # after manage.py build_demo_models

Runs the real engine functions in this process on the profile's models (loaded once) for
the playground's ready examples, each demo form's defaults and every demo block in
lessons/content/*.md, and writes ``<output>/<profile>.json``.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from inference import registry


class Command(BaseCommand):
    help = (
        "Run every demo example on a profile's models in this process and store the results "
        "as JSON (inference/examples/<profile>.json), so pages can show them before a worker "
        "answers."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--profile", choices=sorted(registry.PROFILES), help="default: the active profile"
        )
        parser.add_argument("--models-dir", type=Path, help="MODELS_DIR (default: settings)")
        parser.add_argument(
            "--output", type=Path, help="folder for <profile>.json (default: inference/examples)"
        )
        parser.add_argument(
            "--lessons", type=Path, help="course Markdown folder (default: lessons/content)"
        )
        parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")

    def handle(self, *args, **options) -> None:
        overrides = {"MODELS_DIR": options["models_dir"]} if options["models_dir"] else {}
        with override_settings(**overrides):
            profile = options["profile"] or registry.active_profile_name()
            # Validation counts tokens with the same profile's tokenizers.
            with override_settings(INFERENCE_PROFILE=profile):
                self.record(profile, options)

    def record(self, profile: str, options: dict) -> None:
        from inference.examples import examples_dir, examples_path
        from inference.examples import write_example_set as write
        from inference.examples.inputs import example_inputs
        from inference.examples.recording import record
        from inference.loading import ModelsMissing
        from inference.runtime import load_runtime, reset_runtime

        started = time.monotonic()
        try:
            runtime = load_runtime(profile=profile, device=options["device"])
        except ModelsMissing as exc:
            hint = "manage.py build_demo_models" if profile == "demo" else f"the {profile} build"
            raise CommandError(f"{exc}. Build them first ({hint}).") from exc
        self.stdout.write(
            f"Loaded the {profile} models on {runtime.device} in "
            f"{time.monotonic() - started:.1f}s; recording examples ..."
        )
        try:
            examples, skipped = record(
                runtime, example_inputs(options["lessons"]), log=self.stdout.write
            )
        finally:
            reset_runtime()
        for note in skipped:
            self.stderr.write(self.style.WARNING(f"Skipped {note}"))
        if not examples:
            raise CommandError("No example could be recorded.")
        path = examples_path(profile, options["output"] or examples_dir())
        write(path, profile=profile, examples=examples)
        self.stdout.write(self.style.SUCCESS(f"{len(examples)} examples written to {path}."))
