"""Re-render every lesson's stored HTML (after the renderer or its allow-list changed)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from lessons.models import Lesson
from lessons.services import lesson_render


class Command(BaseCommand):
    help = "Re-render body_html/toc_html of every lesson from its Markdown."

    def handle(self, *args, **options) -> None:
        count = 0
        for lesson in Lesson.objects.order_by("order", "id"):
            rendered = lesson_render(lesson=lesson)
            for warning in rendered.warnings:
                self.stdout.write(self.style.WARNING(f"{lesson.slug}: {warning}"))
            count += 1
        self.stdout.write(self.style.SUCCESS(f"Rendered {count} lesson(s)."))
