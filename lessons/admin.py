"""Admin for the course: lessons, quizzes and questions with history and revert.

Lesson, Quiz and Question use django-simple-history's ``SimpleHistoryAdmin``: the
History button lists who changed what, and a version can be reverted. Every save
of a lesson (including a revert, which goes through ``save_model``) re-renders its
HTML with ``lessons.services.lesson_render``. Attempts are read-only here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from .course_files import canonical_hash
from .grading import percent_label
from .loader import lesson_canonical, lesson_queryset_for_canonical
from .models import (
    AcceptedAnswer,
    Answer,
    Attempt,
    CalibrationRun,
    Choice,
    Course,
    GradingExample,
    KeyConcept,
    Lesson,
    Question,
    Quiz,
    ReferenceAnswer,
)
from .services import lesson_render


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


class QuestionInline(admin.TabularInline):
    model = Question
    fields = ("order", "key", "kind", "short_prompt", "is_active")
    readonly_fields = ("short_prompt",)
    extra = 0
    show_change_link = True
    ordering = ("order", "id")

    @admin.display(description="Prompt")
    def short_prompt(self, obj: Question) -> str:
        return _short(obj.prompt) if obj.pk else ""


@admin.register(Quiz)
class QuizAdmin(SimpleHistoryAdmin):
    list_display = (
        "title",
        "lesson",
        "question_count",
        "pass_mark",
        "attempts_allowed",
        "score_policy",
        "reveal_answers",
    )
    list_filter = ("score_policy", "reveal_answers")
    search_fields = ("title", "lesson__title")
    autocomplete_fields = ("lesson",)
    inlines = (QuestionInline,)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("lesson")
            .annotate(_questions=Count("questions", filter=Q(questions__is_active=True)))
        )

    @admin.display(description="Active questions", ordering="_questions")
    def question_count(self, obj: Quiz) -> int:
        return obj._questions


class ChoiceInlineFormSet(forms.BaseInlineFormSet):
    """Keep each question gradable: the right number of correct choices for its kind."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        correct = sum(1 for form in kept if form.cleaned_data.get("is_correct"))
        kind = self.instance.kind
        if kind == Question.Kind.SHORT_TEXT:
            if kept:
                raise ValidationError(
                    "Short-text questions are graded against accepted answers; remove the choices."
                )
            return
        if kind == Question.Kind.FREE_TEXT:
            if kept:
                raise ValidationError(
                    "Explain-in-your-words questions are graded against reference answers; "
                    "remove the choices."
                )
            return
        if len(kept) < 2:
            raise ValidationError("Give this question at least two choices.")
        if kind in (Question.Kind.SINGLE, Question.Kind.TRUE_FALSE) and correct != 1:
            raise ValidationError("Mark exactly one choice as correct for this kind of question.")
        if kind == Question.Kind.MULTIPLE and correct < 1:
            raise ValidationError("Mark at least one choice as correct.")


class AcceptedAnswerInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE", False)
            and form.cleaned_data.get("text", "").strip()
        ]
        if self.instance.kind == Question.Kind.SHORT_TEXT and not kept:
            raise ValidationError("A short-text question needs at least one accepted answer.")


class ChoiceInline(admin.TabularInline):
    model = Choice
    formset = ChoiceInlineFormSet
    fields = ("order", "text", "is_correct", "feedback")
    extra = 0
    ordering = ("order", "id")
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 40})}
    }


class AcceptedAnswerInline(admin.TabularInline):
    model = AcceptedAnswer
    formset = AcceptedAnswerInlineFormSet
    extra = 0
    verbose_name = "accepted answer (short text)"


class _KeptRows(forms.BaseInlineFormSet):
    def kept(self, field: str) -> list:
        return [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE", False)
            and str(form.cleaned_data.get(field) or "").strip()
        ]


class ReferenceAnswerInlineFormSet(_KeptRows):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        if self.instance.kind == Question.Kind.FREE_TEXT and not self.kept("text"):
            raise ValidationError(
                "An explain-in-your-words question needs at least one reference answer."
            )


class ReferenceAnswerInline(admin.StackedInline):
    model = ReferenceAnswer
    formset = ReferenceAnswerInlineFormSet
    fields = ("order", "text")
    extra = 0
    ordering = ("order", "id")
    verbose_name = "reference answer (explain in your words)"
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 80})}
    }


class KeyConceptForm(forms.ModelForm):
    """Phrases edited one per line (stored as a JSON list)."""

    phrases_text = forms.CharField(
        label="Phrases",
        error_messages={"required": "Give at least one phrase."},
        widget=forms.Textarea(attrs={"rows": 3, "cols": 50}),
        help_text="One per line: short ways to say it. A concept counts as present when all "
        "the words of one phrase are in a sentence of the answer, or the encoder finds "
        "something close in meaning.",
    )

    class Meta:
        model = KeyConcept
        fields = ("order", "label")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["phrases_text"].initial = "\n".join(self.instance.phrases or [])

    def clean_phrases_text(self) -> str:
        phrases = self._phrases(self.cleaned_data.get("phrases_text", ""))
        if not phrases:
            raise ValidationError("Give at least one phrase.")
        if len(phrases) > 20 or any(len(p) > 300 for p in phrases):
            raise ValidationError("Use at most 20 phrases of up to 300 characters each.")
        return "\n".join(phrases)

    @staticmethod
    def _phrases(text: str) -> list[str]:
        seen: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            if line and line not in seen:
                seen.append(line)
        return seen

    def save(self, commit: bool = True) -> KeyConcept:
        self.instance.phrases = self._phrases(self.cleaned_data.get("phrases_text", ""))
        return super().save(commit=commit)


class KeyConceptInline(admin.TabularInline):
    model = KeyConcept
    form = KeyConceptForm
    extra = 0
    ordering = ("order", "id")
    verbose_name = "key concept (explain in your words)"


class GradingExampleInline(admin.TabularInline):
    model = GradingExample
    fields = ("order", "label", "text")
    extra = 0
    ordering = ("order", "id")
    verbose_name = "labelled example answer (for calibration)"
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 70})}
    }


@admin.register(Question)
class QuestionAdmin(SimpleHistoryAdmin):
    list_display = ("short_prompt", "quiz", "key", "kind", "order", "is_active")
    list_filter = ("quiz", "kind", "is_active")
    search_fields = ("prompt", "key", "explanation")
    ordering = ("quiz", "order", "id")
    list_select_related = ("quiz",)
    inlines = (
        ChoiceInline,
        AcceptedAnswerInline,
        ReferenceAnswerInline,
        KeyConceptInline,
        GradingExampleInline,
    )
    readonly_fields = ("last_calibration",)
    fields = (
        "quiz",
        "key",
        "order",
        "kind",
        "prompt",
        "explanation",
        "partial_credit",
        "is_active",
        "similarity_threshold",
        "similarity_margin",
        "last_calibration",
    )

    @admin.display(description="Prompt", ordering="prompt")
    def short_prompt(self, obj: Question) -> str:
        return _short(obj.prompt)

    @admin.display(description="Last calibration")
    def last_calibration(self, obj: Question) -> str:
        run = obj.calibration_runs.first() if obj.pk else None
        if run is None:
            return (
                "Not calibrated yet. Run `manage.py calibrate_free_text --question "
                f"{obj.key or 'KEY'}` to measure how often the automatic grade agrees with "
                "the labelled examples."
            )
        url = reverse("admin:lessons_calibrationrun_change", args=[run.pk])
        return format_html(
            '<a href="{}">{}</a>: agreement {} at threshold {}; suggested {} ({})',
            url,
            f"{run.created_at:%Y-%m-%d %H:%M}",
            percent_label(run.agreement),
            f"{run.threshold:.2f}",
            f"{run.suggested_threshold:.2f}",
            percent_label(run.suggested_agreement),
        )


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
