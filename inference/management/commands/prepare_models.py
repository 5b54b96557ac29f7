"""The models the stack's workers will load, however they can be had: `manage.py prepare_models`.

What docker-compose's one-shot ``models`` service runs before the model workers start:

- ``INFERENCE_PROFILE=full``: download the pinned originals (``download_models``); an
  unreachable Hub is an error, since nothing else gives those models.
- ``demo``: build the site's own demo models here (``build_demo_models``: about 14 minutes
  on 2 CPU cores, its progress shown by the site's status strip and training page as under
  ``make run``).
- ``auto`` (the default): the originals when the Hub answers, else the demo models, saying
  why. A stack on a network without the Hub still comes up with live demos.

Models already in place are kept: a second run costs seconds.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from inference.contract import registry


class Command(BaseCommand):
    help = (
        "Prepare the models INFERENCE_PROFILE asks for: download the full profile, build the "
        "demo profile, or (auto) download and fall back to building the demo models."
    )

    def handle(self, *args, **options) -> None:
        wanted = str(settings.INFERENCE_PROFILE or registry.AUTO).strip().lower()
        if wanted == "tiny":
            call_command("build_tiny_models", stdout=self.stdout, stderr=self.stderr)
            return
        if wanted == "full":
            call_command("download_models", stdout=self.stdout, stderr=self.stderr)
            return
        if wanted == "auto":
            try:
                call_command("download_models", stdout=self.stdout, stderr=self.stderr)
                return
            except CommandError as exc:
                self.stderr.write(
                    f"The full models could not be downloaded ({exc}); building the demo "
                    "models here instead (INFERENCE_PROFILE=auto serves them until the full "
                    "models are present)."
                )
        elif wanted != "demo":
            choices = ", ".join([*registry.PROFILES, registry.AUTO])
            raise CommandError(f"INFERENCE_PROFILE={wanted!r} is not one of: {choices}")
        call_command("build_demo_models", "--no-progress", stdout=self.stdout, stderr=self.stderr)
