"""The course and its lessons in the admin: the body editor, the preview, history and revert.

The body edits in a tall textarea beside a live preview of the page learners get
(``preview.py``); the History page shows what each version changed as a line diff
(``history.py``).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.widgets import AdminTextareaWidget
from django.db.models import Count
from django.urls import path, reverse
from django.utils.html import format_html

from ..course_files import canonical_hash
from ..loader import lesson_canonical, lesson_queryset_for_canonical
from ..models import (
    Course,
    Lesson,
)
from ..services import lesson_render
from .history import LineDiffHistoryAdmin
from .preview import lesson_preview, preview_context

# Where the change form (admin/lessons/lesson/change_form.html) shows the live preview.
PREVIEW_TARGET = "#lesson-preview-body"


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


class LessonBodyWidget(AdminTextareaWidget):
    """The body's textarea: tall, monospace, resizable (admin-preview.css), posting its text
    to the preview as staff type (htmx; the CSRF token is the change form's ``hx-headers``)."""

    def __init__(self, *, preview_url: str) -> None:
        super().__init__(
            attrs={
                "rows": 32,
                "cols": 80,
                "class": "vLargeTextField lesson-body-editor",
                "spellcheck": "true",
                "hx-post": preview_url,
                # Typing, pasting, cutting: once the text rests for half a second.
                "hx-trigger": "input changed delay:500ms",
                "hx-target": PREVIEW_TARGET,
                "hx-swap": "innerHTML",
                "hx-params": "body_markdown",  # nothing else of the form goes
                "hx-sync": "this:replace",  # a newer text cancels a preview still on its way
                "hx-indicator": "#lesson-preview-updating",
            }
        )


@admin.register(Lesson)
class LessonAdmin(LineDiffHistoryAdmin):
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
    readonly_fields = ("load_state", "quiz_link", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("course", "title", "slug", "section", "order", "duration_minutes")}),
        ("Content", {"fields": ("summary", "body_markdown")}),
        ("Course files", {"fields": ("load_state", "quiz_link", "created_at", "updated_at")}),
    )
    history_list_display = ("title", "section", "order")
    # The revert page gets the editor and its preview too (change_form.html extends the
    # template named in lesson_form_base; see render_history_view).
    object_history_form_template = "admin/lessons/lesson/change_form.html"

    class Media:
        css = {"all": ("css/pygments.css", "css/admin-preview.css")}

    def get_queryset(self, request):
        # The canonical form (for the edited-since-load flag) from prefetched rows.
        return lesson_queryset_for_canonical()

    # --- The body editor and its live preview -------------------------------------------

    def get_urls(self):
        # Before the default URLs: "<object_id>/" would take "preview/" for a lesson's id.
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="lessons_lesson_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        return lesson_preview(request, model_admin=self)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "body_markdown":
            url = reverse(f"{self.admin_site.name}:lessons_lesson_preview")
            kwargs["widget"] = LessonBodyWidget(preview_url=url)
            kwargs["help_text"] = (
                "Markdown. A demo is a fenced block: ```demo fill-mask, its default inputs "
                "as YAML lines (text: …), then ```. The live preview follows your typing."
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _with_preview(self, context: dict, obj: Lesson | None) -> dict:
        form = context["adminform"].form
        if "body_markdown" in form.fields:
            body = form["body_markdown"].value() or ""
        else:  # view-only: no textarea, the stored body
            body = obj.body_markdown if obj is not None else ""
        context["lesson_preview"] = preview_context(body)
        return context

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        return super().render_change_form(
            request, self._with_preview(context, obj), add, change, form_url, obj
        )

    def render_history_view(self, request, template, context, **kwargs):
        if template == self.object_history_form_template:  # a version, to revert to
            context["lesson_form_base"] = "simple_history/object_history_form.html"
            self._with_preview(context, context.get("original"))
        return super().render_history_view(request, template, context, **kwargs)

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
