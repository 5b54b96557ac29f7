"""Build the ``tiny`` profile's random-weight models (seconds; used by tests and CI)."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand

from inference.contract import registry


class Command(BaseCommand):
    help = (
        "Build miniature random-weight BERT, GPT and encoder models into MODELS_DIR/tiny "
        "(the 'tiny' inference profile, for tests). Takes a few seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="MODELS_DIR to write into (default: settings.MODELS_DIR); models go to DIR/tiny.",
        )

    def handle(self, *args, **options):
        from inference.worker.tiny import build_tiny_models

        base = options["dir"] or registry.models_dir()
        started = time.monotonic()
        paths = build_tiny_models(Path(base) / "tiny")
        for role, path in paths.items():
            self.stdout.write(f"{role:8} {path}")
        self.stdout.write(
            self.style.SUCCESS(f"Tiny models built in {time.monotonic() - started:.1f}s.")
        )
