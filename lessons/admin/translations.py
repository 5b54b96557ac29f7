"""Admin for the course's translations: each lesson's Chinese text, with history and revert.

A ``LessonTranslation`` edits like a lesson (the same tall monospace body editor, a line
diff in its history, revert); its questions' text is edited inline, as JSON where a
question has several choices or answers. Every save (a revert included: it goes through
``save_model``) re-renders the body with ``lessons.translations.translation_render``, which
also points its links at the translation's language. What decides identity and grading
(keys, right answers, the grader's phrases) is the English question's and is edited there.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.widgets import AdminTextareaWidget

from ..models import LessonTranslation, QuestionTranslation
from ..translations import translation_render
from .history import LineDiffHistoryAdmin


class QuestionTranslationInline(admin.StackedInline):
    model = QuestionTranslation
    extra = 0
    can_delete = False
    fields = ("question", "prompt", "explanation", "choices", "accepted", "references",
              "concept_labels")  # fmt: skip
    readonly_fields = ("question",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # questions come with the lesson's file (load_course)


@admin.register(LessonTranslation)
class LessonTranslationAdmin(LineDiffHistoryAdmin):
    list_display = ("title", "lesson", "language", "updated_at")
    list_filter = ("language",)
    search_fields = ("title", "summary", "body_markdown", "lesson__slug")
    readonly_fields = ("lesson", "language", "updated_at")
    fieldsets = (
        (None, {"fields": ("lesson", "language", "title", "section", "quiz_title")}),
        ("Content", {"fields": ("summary", "body_markdown")}),
        ("Saved", {"fields": ("updated_at",)}),
    )
    inlines = (QuestionTranslationInline,)
    history_list_display = ("title", "section")

    class Media:
        css = {"all": ("css/pygments.css", "css/admin-preview.css")}

    def has_add_permission(self, request) -> bool:
        return False  # a translation comes with its twin file (load_course)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "body_markdown":
            kwargs["widget"] = AdminTextareaWidget(
                attrs={"rows": 32, "cols": 80, "class": "vLargeTextField lesson-body-editor"}
            )
            kwargs["help_text"] = (
                "Markdown, in the translation's language. Keep the English lesson's sections "
                "and its demo blocks as they are (the demo models read English)."
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj: LessonTranslation, form, change: bool) -> None:
        rendered = translation_render(obj)
        super().save_model(request, obj, form, change)
        for warning in rendered.warnings:
            self.message_user(request, f"Rendering: {warning}", level="warning")
