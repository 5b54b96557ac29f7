"""Grading in the admin: free-text calibration runs and (read-only) attempts and answers."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from ..grading import percent_label
from ..models import (
    Answer,
    Attempt,
    CalibrationRun,
)
from .course import _short


@admin.register(CalibrationRun)
class CalibrationRunAdmin(admin.ModelAdmin):
    """Reports of ``manage.py calibrate_free_text``: agreement of the automatic grade with
    the staff labels, per question, and the threshold that would agree most."""

    list_display = (
        "question_key",
        "created_at",
        "examples",
        "agreement_display",
        "threshold",
        "suggested_threshold",
        "suggested_agreement_display",
        "applied",
        "model_name",
    )
    list_filter = ("applied", "question__quiz")
    search_fields = ("question__key", "question__prompt")
    list_select_related = ("question",)
    date_hierarchy = "created_at"
    actions = ("apply_suggested_threshold",)
    fields = (
        "question",
        "created_at",
        "model_name",
        "examples",
        "agreement_display",
        "threshold",
        "margin",
        "suggested_threshold",
        "suggested_agreement_display",
        "applied",
        "report_table",
    )
    readonly_fields = fields

    @admin.display(description="Question", ordering="question__key")
    def question_key(self, obj: CalibrationRun) -> str:
        return obj.question.key

    @admin.display(description="Agreement", ordering="agreement")
    def agreement_display(self, obj: CalibrationRun) -> str:
        return percent_label(obj.agreement)

    @admin.display(description="Agreement at the suggestion", ordering="suggested_agreement")
    def suggested_agreement_display(self, obj: CalibrationRun) -> str:
        return percent_label(obj.suggested_agreement)

    @admin.display(description="Examples, automatic grade against the staff label")
    def report_table(self, obj: CalibrationRun) -> str:
        rows = (obj.report or {}).get("rows") or []
        if not rows:
            return "No rows."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    "✓" if row.get("staff") == row.get("auto") else "✗ differs",
                    row.get("staff", ""),
                    row.get("auto", ""),
                    percent_label(row.get("score")),
                    f"{float(row.get('similarity', 0.0)):.3f}",
                    ", ".join(row.get("missing") or []) or "–",
                    _short(str(row.get("text", "")), 160),
                )
                for row in rows
            ),
        )
        return format_html(
            '<table class="calibration-report"><thead><tr><th>Agree</th><th>Staff</th>'
            "<th>Automatic</th><th>Score</th><th>Similarity</th><th>Missing concepts</th>"
            "<th>Answer</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.action(description="Apply the suggested threshold to the question")
    def apply_suggested_threshold(self, request, queryset) -> None:
        if not request.user.has_perm("lessons.change_question"):
            self.message_user(request, "You may not change questions.", level="error")
            return
        for run in queryset.select_related("question"):
            question = run.question
            question.similarity_threshold = run.suggested_threshold
            question._change_reason = f"calibration run {run.pk}"
            question.save(update_fields=["similarity_threshold"])
            CalibrationRun.objects.filter(pk=run.pk).update(applied=True)
        self.message_user(request, f"Applied {queryset.count()} suggested threshold(s).")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class AnswerInline(admin.TabularInline):
    model = Answer
    fields = (
        "question",
        "picked",
        "text",
        "score",
        "is_correct",
        "grading_status",
        "auto_score",
        "review_score",
        "checked_inline",
        "answered_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("question")
            .prefetch_related("selected_choices")
        )

    @admin.display(description="Picked")
    def picked(self, obj: Answer) -> str:
        return ", ".join(choice.text for choice in obj.selected_choices.all()) or "—"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    """Read-only: instructors look at attempts; only learners create them."""

    list_display = ("quiz", "learner", "status", "percent_display", "started_at", "submitted_at")
    list_filter = ("status", "quiz")
    search_fields = ("user__username", "anon_id", "token")
    list_select_related = ("quiz", "user")
    date_hierarchy = "started_at"
    inlines = (AnswerInline,)
    readonly_fields = (
        "token",
        "quiz",
        "user",
        "anon_id",
        "status",
        "shuffle_seed",
        "score",
        "started_at",
        "submitted_at",
    )
    fields = readonly_fields

    @admin.display(description="Learner", ordering="user__username")
    def learner(self, obj: Attempt) -> str:
        if obj.user_id:
            return obj.user.get_username()
        return f"anonymous {obj.anon_id[:8]}" if obj.anon_id else "anonymous"

    @admin.display(description="Score", ordering="score")
    def percent_display(self, obj: Attempt) -> str:
        return "—" if obj.percent is None else f"{obj.percent}%"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
