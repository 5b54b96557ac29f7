"""Write the course in the database back to Markdown files: `manage.py export_course --dir PATH`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lessons.loader import course_export


class Command(BaseCommand):
    help = "Export every lesson and its quiz to DIR/NN-slug.md in the load_course format."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", dest="directory", required=True, help="folder to write to")

    def handle(self, *args, directory: str, **options) -> None:
        try:
            written = course_export(directory=Path(directory))
        except OSError as exc:
            raise CommandError(f"could not write to {directory}: {exc.strerror or exc}") from exc
        for path in written:
            self.stdout.write(f"Wrote {path}")
        self.stdout.write(self.style.SUCCESS(f"Exported {len(written)} lesson(s) to {directory}"))
