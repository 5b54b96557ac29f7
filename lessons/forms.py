"""Forms: parsing quiz answers, filtering the gradebook.

Forms only parse and validate input; the services decide (grading, locking).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .free_text import FREE_TEXT_MAX_LENGTH
from .models import Lesson, Question
from .services import SHORT_TEXT_MAX_LENGTH, AnswerInput

FIELD_PREFIX = "q-"
_FIELD_NAME = re.compile(r"^q-(?P<id>.*)$")
# The quiz form's hidden field (lessons/templates/lessons/quiz_detail.html). A browser sends
# nothing for radio buttons and checkboxes left alone, nor for a checked question (its
# inputs are disabled), so the form of a quiz answered by Check alone, or with nothing
# picked, carries no answer field: this field says it is the form all the same.
QUIZ_FORM_FIELD = "quiz-form"


def question_field_name(question_id: int) -> str:
    return f"{FIELD_PREFIX}{question_id}"


class QuizAnswersForm(forms.Form):
    """The answers in one POST to a quiz: a field ``q-<question id>`` per active question.

    Single-choice and true/false questions take one choice id, multiple-select
    questions any number, short-text questions up to 300 characters and
    explain-in-your-words questions up to 500. Rejected:
    a field for a question not in this quiz (or a non-integer id), a choice id of
    another question (or not a number), two picks for a single-choice question,
    and a changed answer to a question already checked (``locked``). Absent
    fields are unanswered; locked questions are usually absent, since their
    inputs are disabled on the page.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        questions: Iterable[Question],
        locked: Mapping[int, AnswerInput] | None = None,
    ) -> None:
        super().__init__(data)
        self.questions = list(questions)
        self.locked = dict(locked or {})
        for question in self.questions:
            self.fields[question_field_name(question.pk)] = self._field_for(question)

    @staticmethod
    def _field_for(question: Question) -> forms.Field:
        label = question.prompt
        if question.kind == Question.Kind.FREE_TEXT:
            return forms.CharField(
                label=label,
                required=False,
                max_length=FREE_TEXT_MAX_LENGTH,
                widget=forms.Textarea,
                error_messages={
                    "max_length": _(
                        "Keep your answer to %(limit_value)d characters or fewer "
                        "(it has %(show_value)d)."
                    )
                },
            )
        if question.kind == Question.Kind.SHORT_TEXT:
            return forms.CharField(
                label=label,
                required=False,
                max_length=SHORT_TEXT_MAX_LENGTH,
                error_messages={
                    "max_length": _(
                        "Keep your answer to %(limit_value)d characters or fewer "
                        "(it has %(show_value)d)."
                    )
                },
            )
        choices = [(str(choice.pk), choice.text) for choice in question.choices.all()]
        not_a_choice = _("That choice is not one of this question's answers.")
        messages = {"invalid_choice": not_a_choice, "invalid_list": not_a_choice}
        if question.kind == Question.Kind.MULTIPLE:
            return forms.MultipleChoiceField(
                label=label, required=False, choices=choices, error_messages=messages
            )
        return forms.ChoiceField(
            label=label, required=False, choices=choices, error_messages=messages
        )

    def is_the_quiz_form(self) -> bool:
        """Whether the data is the quiz form: its hidden field, or an answer field of one of
        the quiz's questions. An empty body, or one with other fields only, is not: grading
        it would close the attempt with nothing answered. (Django reads only form bodies, so
        a JSON body arrives here empty.)"""
        return QUIZ_FORM_FIELD in self.data or any(name in self.data for name in self.fields)

    def _submitted_names(self) -> list[str]:
        return [str(key) for key in self.data if str(key).startswith(FIELD_PREFIX)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self._submitted_names():
            if name not in self.fields:
                match = _FIELD_NAME.match(name)
                shown = match.group("id")[:20] if match else name[:20]
                self.add_error(
                    None, _("Question “%(id)s” is not part of this quiz.") % {"id": shown}
                )
        getlist = getattr(self.data, "getlist", None)
        for question in self.questions:
            name = question_field_name(question.pk)
            if name not in self.data:
                continue
            if (
                question.kind in (Question.Kind.SINGLE, Question.Kind.TRUE_FALSE)
                and getlist is not None
                and len(getlist(name)) > 1
            ):
                self.add_error(name, _("Pick only one answer for this question."))
                continue
            locked = self.locked.get(question.pk)
            if (
                locked is not None
                and name in cleaned
                and self._answer_from(question, cleaned[name]) != locked
            ):
                self.add_error(name, _("You already checked this question; its answer is locked."))
        return cleaned

    @staticmethod
    def _answer_from(question: Question, value: Any) -> AnswerInput:
        if question.kind in (Question.Kind.SHORT_TEXT, Question.Kind.FREE_TEXT):
            return AnswerInput(text=(value or "").strip())
        if question.kind == Question.Kind.MULTIPLE:
            return AnswerInput(choice_ids=frozenset(int(v) for v in value or ()))
        return AnswerInput(choice_ids=frozenset({int(value)}) if value else frozenset())

    def answers(self) -> dict[int, AnswerInput]:
        """The non-blank answers submitted, by question id (call after ``is_valid()``)."""
        result: dict[int, AnswerInput] = {}
        for question in self.questions:
            name = question_field_name(question.pk)
            if name not in self.cleaned_data:
                continue
            answer = self._answer_from(question, self.cleaned_data[name])
            if not answer.is_blank and question.pk not in self.locked:
                result[question.pk] = answer
        return result

    def answer_for(self, question: Question) -> AnswerInput:
        """The (possibly blank) answer given to ``question`` (call after ``is_valid()``)."""
        name = question_field_name(question.pk)
        return self._answer_from(question, self.cleaned_data.get(name))

    def raw_answers(self) -> dict[int, AnswerInput]:
        """What was typed or picked, valid or not, to show it again after an error."""
        result: dict[int, AnswerInput] = {}
        getlist = getattr(self.data, "getlist", None)
        for question in self.questions:
            name = question_field_name(question.pk)
            if name not in self.data:
                continue
            if question.kind in (Question.Kind.SHORT_TEXT, Question.Kind.FREE_TEXT):
                result[question.pk] = AnswerInput(text=str(self.data.get(name, ""))[:2000])
                continue
            values = getlist(name) if getlist is not None else [self.data.get(name)]
            ids = frozenset(
                int(v)
                for v in values
                if isinstance(v, str) and v.isascii() and v.isdecimal() and len(v) <= 18
            )
            result[question.pk] = AnswerInput(choice_ids=ids)
        return result


class GradebookFilterForm(forms.Form):
    """Pick one lesson to narrow the gradebook (by slug, so URLs stay readable)."""

    lesson = forms.ModelChoiceField(
        queryset=Lesson.objects.filter(quiz__isnull=False).order_by("order", "id"),
        to_field_name="slug",
        required=False,
        empty_label=gettext_lazy("All lessons"),
        error_messages={
            "invalid_choice": gettext_lazy("There is no lesson with a quiz by that name.")
        },
    )
