"""Download the ``full`` profile's pretrained models once, at pinned revisions.

The only code in the project that touches the network: ``huggingface_hub.snapshot_download``
of bert-base-uncased, gpt2 and all-MiniLM-L6-v2 at the commits pinned in
``inference/contract/registry.py`` into ``MODELS_DIR/full/<name>``. Workers then load them offline.
Each model is downloaded into ``<name>.partial`` and renamed when complete, so a worker
never sees half a model. Models already present are skipped unless ``--force``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.contract import registry

ALLOW_PATTERNS = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    # sentence-transformers metadata of all-MiniLM-L6-v2 (pooling and normalisation)
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
]


class Command(BaseCommand):
    help = (
        "Download the original pretrained models of the 'full' profile (bert-base-uncased, "
        "gpt2, all-MiniLM-L6-v2) at pinned revisions into MODELS_DIR/full."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--profile",
            default="full",
            choices=sorted(registry.PROFILES),
            help="Only 'full' is downloaded; 'demo' and 'tiny' are built locally.",
        )
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="MODELS_DIR to write into (default: settings.MODELS_DIR); models go to DIR/full.",
        )
        parser.add_argument(
            "--force", action="store_true", help="Download again even if a model is present."
        )

    def handle(self, *args, **options):
        profile = options["profile"]
        if profile == "demo":
            raise CommandError(
                "The demo profile is not downloaded: build it with `manage.py build_demo_models`."
            )
        if profile == "tiny":
            raise CommandError(
                "The tiny profile is not downloaded: build it with `manage.py build_tiny_models`."
            )
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
            raise CommandError(
                "HF_HUB_OFFLINE is set, so nothing can be downloaded. Unset it for this command."
            )
        base = Path(options["dir"] or registry.models_dir()) / "full"
        base.mkdir(parents=True, exist_ok=True)
        for role, (name, repo_id, revision) in registry.FULL_MODELS.items():
            target = base / name
            if registry.is_model_dir(target) and not options["force"]:
                self.stdout.write(f"{role:8} {name}: already present in {target}")
                continue
            self.stdout.write(f"{role:8} {name}: downloading {repo_id}@{revision[:12]} ...")
            started = time.monotonic()
            self._download(repo_id=repo_id, revision=revision, target=target)
            self.stdout.write(
                self.style.SUCCESS(
                    f"{role:8} {name}: done in {time.monotonic() - started:.0f}s -> {target}"
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                "All full models are present. Workers with INFERENCE_PROFILE=auto (or full) "
                "use them after a restart."
            )
        )

    def _download(self, *, repo_id: str, revision: str, target: Path) -> None:
        import huggingface_hub

        partial = target.with_name(target.name + ".partial")
        try:
            # One quick request first: an unreachable Hub fails in seconds with one clear
            # message instead of snapshot_download's retries with back-off.
            huggingface_hub.model_info(repo_id, revision=revision, timeout=10)
            huggingface_hub.snapshot_download(
                repo_id=repo_id,
                revision=revision,
                local_dir=partial,
                allow_patterns=ALLOW_PATTERNS,
            )
        except Exception as exc:  # network, DNS, HTTP, offline mode: one clear sentence
            endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise CommandError(
                f"Could not download {repo_id} from the Hugging Face Hub at {endpoint} "
                f"({type(exc).__name__}{': ' + reason if reason else ''}). Check the network "
                "connection (or set HF_ENDPOINT to a reachable mirror) and run the command "
                "again; finished models are kept."
            ) from exc
        if not registry.is_model_dir(partial):
            raise CommandError(
                f"The download of {repo_id} finished but {partial} has no config and weights."
            )
        shutil.rmtree(partial / ".cache", ignore_errors=True)
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
