"""Load (or reload) the course from Markdown files: `manage.py load_course [--dir] [--force]`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lessons.loader import CourseDirectoryError, course_load

DEFAULT_DIR = Path(settings.BASE_DIR) / "lessons" / "content"


class Command(BaseCommand):
    help = (
        "Load lessons and quizzes from Markdown files with YAML front matter. Idempotent; "
        "lessons edited in the admin since the last load are skipped unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dir", dest="directory", default=str(DEFAULT_DIR), help="folder of *.md lessons"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="overwrite lessons that were edited in the admin since the last load",
        )

    def handle(self, *args, directory: str, force: bool, **options) -> None:
        try:
            report = course_load(directory=Path(directory), force=force)
        except CourseDirectoryError as exc:
            raise CommandError(str(exc)) from exc

        def line(label: str, slugs: list[str]) -> None:
            if slugs:
                self.stdout.write(f"{label} ({len(slugs)}): {', '.join(slugs)}")

        self.stdout.write(f"Course loaded from {directory}")
        line("Created", report.created)
        line("Updated", report.updated)
        line("Unchanged", report.unchanged)
        for slug in report.skipped_edited:
            self.stdout.write(
                self.style.WARNING(
                    f"Skipped: {slug} was edited in the admin since the last load "
                    "(use --force to overwrite)"
                )
            )
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {warning}"))
        for error in report.errors:
            self.stderr.write(self.style.ERROR(f"Error: {error}"))
        total = len(report.created) + len(report.updated) + len(report.unchanged)
        if not total and not report.errors and not report.skipped_edited:
            self.stdout.write(self.style.WARNING(f"No lesson files found in {directory}"))
        if report.errors:
            raise CommandError(
                f"{len(report.errors)} file(s) could not be loaded; the others were loaded."
            )
        self.stdout.write(self.style.SUCCESS(f"Done: {total} lesson(s) in the database match."))
