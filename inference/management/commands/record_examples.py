"""Record the stored example results the playground and lessons show before a worker answers.

    manage.py record_examples                 # the active profile (inference/contract/examples/)
    manage.py record_examples --profile demo  # after manage.py build_demo_models

Runs the real engine functions in this process on the profile's models (loaded once) for
the playground's ready examples, each demo form's defaults and every demo block in
lessons/content/*.md, and writes ``<output>/<profile>.json``. For the demo profile the
file's header names the build it was recorded with (the release in
``MODELS_DIR/demo/training.json``), so pages can tell when it isn't the one being served.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from inference.contract import registry


class Command(BaseCommand):
    help = (
        "Run every demo example on a profile's models in this process and store the results "
        "as JSON (inference/contract/examples/<profile>.json), so pages can show them before a "
        "worker answers."
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
        from inference.contract.examples import examples_dir, examples_path
        from inference.contract.examples.builds import demo_build
        from inference.worker.loading import ModelsMissing
        from inference.worker.recording import record_to_file
        from inference.worker.runtime import load_runtime, reset_runtime

        started = time.monotonic()
        build = demo_build() if profile == "demo" else None
        try:
            runtime = load_runtime(profile=profile, device=options["device"])
        except ModelsMissing as exc:
            hint = "manage.py build_demo_models" if profile == "demo" else f"the {profile} build"
            raise CommandError(f"{exc}. Build them first ({hint}).") from exc
        try:
            if profile == "demo":
                build = self.loaded_build(build, demo_build())
            self.stdout.write(
                f"Loaded the {profile} models on {runtime.device} in "
                f"{time.monotonic() - started:.1f}s; recording examples ..."
            )
            path = examples_path(profile, options["output"] or examples_dir())
            written = record_to_file(
                runtime, path, build=build, lessons_dir=options["lessons"], log=self.stdout.write
            )
        finally:
            reset_runtime()
        if not written:
            raise CommandError("No example could be recorded.")
        self.stdout.write(self.style.SUCCESS(f"{written} examples written to {path}."))

    def loaded_build(self, before: dict | None, after: dict | None) -> dict | None:
        """The demo build the loaded models came from: the same before and after loading."""
        if before != after:
            raise CommandError(
                "The demo build was published again while its models were loading; run "
                "record_examples again."
            )
        if after is None:
            self.stderr.write(
                self.style.WARNING(
                    "The demo build has no training.json: the examples don't name their "
                    "build, so pages will show them as from an earlier build."
                )
            )
        return after
