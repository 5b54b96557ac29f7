"""Quizzes and their questions in the admin: choices, accepted answers, and a free-text
question's references, key concepts and graded examples.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from ..grading import percent_label
from ..models import (
    AcceptedAnswer,
    Choice,
    GradingExample,
    KeyConcept,
    Question,
    Quiz,
    ReferenceAnswer,
)
from .course import _short
from .history import LineDiffHistoryAdmin


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
class QuizAdmin(LineDiffHistoryAdmin):
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
class QuestionAdmin(LineDiffHistoryAdmin):
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
