"""The course and its lessons in the admin: the body editor, the preview, history and revert."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from ..course_files import canonical_hash
from ..loader import lesson_canonical, lesson_queryset_for_canonical
from ..models import (
    Course,
    Lesson,
)
from ..services import lesson_render


def _short(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "lesson_count")
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_lesson_count=Count("lessons"))

    @admin.display(description="Lessons", ordering="_lesson_count")
    def lesson_count(self, obj: Course) -> int:
        return obj._lesson_count


@admin.register(Lesson)
class LessonAdmin(SimpleHistoryAdmin):
    list_display = (
        "title",
        "section",
        "order",
        "duration_minutes",
        "edited_since_load",
        "has_quiz",
    )
    list_display_links = ("title",)
    list_filter = ("course", "section")
    search_fields = ("title", "slug", "summary", "body_markdown")
    ordering = ("order", "id")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("rendered_preview", "load_state", "quiz_link", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("course", "title", "slug", "section", "order", "duration_minutes")}),
        ("Content", {"fields": ("summary", "body_markdown")}),
        (
            "Rendered preview",
            {
                "fields": ("rendered_preview",),
                "description": "The sanitized HTML learners see, as stored at the last save.",
            },
        ),
        ("Course files", {"fields": ("load_state", "quiz_link", "created_at", "updated_at")}),
    )
    history_list_display = ("title", "section", "order")

    class Media:
        css = {"all": ("css/pygments.css", "css/admin-preview.css")}

    def get_queryset(self, request):
        # The canonical form (for the edited-since-load flag) from prefetched rows.
        return lesson_queryset_for_canonical()

    def save_model(self, request, obj: Lesson, form, change: bool) -> None:
        rendered = lesson_render(lesson=obj, save=False)
        super().save_model(request, obj, form, change)
        for warning in rendered.warnings:
            self.message_user(request, f"Rendering: {warning}", level="warning")

    def _edited(self, obj: Lesson) -> bool | None:
        if not obj.loaded_hash:
            return None
        return obj.loaded_hash != canonical_hash(lesson_canonical(obj))

    @admin.display(description="Since last load")
    def edited_since_load(self, obj: Lesson) -> str:
        """Edited: changed here since `load_course` (a load skips it); or never loaded."""
        edited = self._edited(obj)
        if edited is None:
            return "Not from files"
        return "✎ Edited" if edited else "As loaded"

    @admin.display(description="Quiz", boolean=True)
    def has_quiz(self, obj: Lesson) -> bool:
        return hasattr(obj, "quiz")

    @admin.display(description="Loaded from files")
    def load_state(self, obj: Lesson) -> str:
        edited = self._edited(obj) if obj.pk else None
        if edited is None:
            return (
                "Not loaded from the course files: load_course won't overwrite it "
                "unless run with --force."
            )
        if edited:
            return (
                "Edited here since the last load_course: the next load skips this lesson "
                "unless run with --force. Use export_course to write the changes to files."
            )
        return "Same as the course files at the last load."

    @admin.display(description="Quiz")
    def quiz_link(self, obj: Lesson) -> str:
        quiz = getattr(obj, "quiz", None) if obj.pk else None
        if quiz is None:
            return "No quiz"
        url = reverse("admin:lessons_quiz_change", args=[quiz.pk])
        return format_html('<a href="{}">{}</a>', url, quiz.title)

    @admin.display(description="Preview")
    def rendered_preview(self, obj: Lesson) -> str:
        if not obj.body_html:
            return "Save the lesson to see its rendered preview."
        # body_html was sanitized with nh3 by lesson_render; that is why it may be marked safe.
        return format_html('<div class="lesson-preview">{}</div>', mark_safe(obj.body_html))  # noqa: S308
