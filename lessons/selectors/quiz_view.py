"""The quiz page's and the attempt review's view of each question (a view-model)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..grading import passes, percent_label
from ..models import Answer, Attempt, Choice, Question
from ..services import AnswerInput
from ..translations import localize_questions
from .quizzes import attempt_answers, choices_in_attempt_order


@dataclass
class QuestionItem:
    """One question as the quiz page and the review show it.

    Nothing here exposes which choices are correct until the question has a
    saved (checked or submitted) answer: the template only ever asks these
    properties, and they are empty before then.
    """

    question: Question
    number: int
    choices: list[Choice]
    answer: Answer | None = None
    picked: AnswerInput = field(default_factory=AnswerInput)
    reveal_answers: bool = False
    error: str = ""
    focus: bool = False
    check_url: str = ""  # where its Check button posts (set by the quiz view)

    @property
    def pk(self) -> int:
        return self.question.pk

    @property
    def locked(self) -> bool:
        return self.answer is not None

    @property
    def is_short_text(self) -> bool:
        return self.question.kind == Question.Kind.SHORT_TEXT

    @property
    def is_free_text(self) -> bool:
        return self.question.kind == Question.Kind.FREE_TEXT

    @property
    def is_typed(self) -> bool:
        """Answered by typing (short text or explain in your words), not by picking."""
        return self.is_short_text or self.is_free_text

    # --- Explain in your words: the grade arrives from a worker (lessons.free_text) --------

    @property
    def reviewed(self) -> bool:
        return self.answer is not None and self.answer.reviewed_at is not None

    @property
    def grading_pending(self) -> bool:
        """Waiting for the grader (and not settled by an instructor meanwhile)."""
        return (
            self.answer is not None
            and self.answer.grading_status == Answer.GradingStatus.PENDING
            and not self.reviewed
        )

    @property
    def grading_failed(self) -> bool:
        return (
            self.answer is not None
            and self.answer.grading_status == Answer.GradingStatus.FAILED
            and not self.reviewed
        )

    @property
    def awaiting_grade(self) -> bool:
        return self.grading_pending or self.grading_failed

    @property
    def awaiting_review(self) -> bool:
        """Graded, but it contradicts a key idea: it waits for an instructor's review."""
        return (
            self.is_free_text
            and self.answer is not None
            and self.answer.grading_status == Answer.GradingStatus.GRADED
            and not self.reviewed
            and bool((self.answer.grading_details or {}).get("needs_review"))
        )

    @property
    def awaiting_teacher(self) -> bool:
        """Written in Chinese: not graded automatically, a teacher grades it (free_text)."""
        return self.awaiting_review and self.answer.grading_details.get("reason") == "language"

    @property
    def contradicted_concepts(self) -> list[str]:
        if not self.awaiting_review:
            return []
        shown = getattr(self.question, "concept_map", {})
        labels = self.answer.grading_details.get("contradicted") or []
        return [shown.get(str(label), str(label)) for label in labels]

    @property
    def closest_reference(self) -> str:
        """The reference answer closest to the learner's, once graded (if answers are shown)."""
        if self.answer is None or not self.reveal_answers or not self.is_free_text:
            return ""
        reference = self.answer.closest_reference
        return getattr(self.question, "reference_map", {}).get(reference, reference)

    @property
    def missing_concepts(self) -> list[str]:
        if self.answer is None or not self.is_free_text or self.awaiting_grade:
            return []
        if self.answer.grading_status != Answer.GradingStatus.GRADED:
            return []
        shown = getattr(self.question, "concept_map", {})
        return [shown.get(str(label), str(label)) for label in self.answer.missing_concepts or []]

    @property
    def covered_all_concepts(self) -> bool:
        return (
            self.is_free_text
            and self.answer is not None
            and self.answer.grading_status == Answer.GradingStatus.GRADED
            and bool(self.answer.grading_details.get("concepts"))
            and not self.answer.missing_concepts
        )

    @property
    def auto_score_label(self) -> str:
        if self.answer is None or self.answer.auto_score is None:
            return ""
        return percent_label(self.answer.auto_score)

    @property
    def review_score_label(self) -> str:
        if not self.reviewed or self.answer.review_score is None:
            return ""
        return percent_label(self.answer.review_score)

    @property
    def is_multiple(self) -> bool:
        return self.question.kind == Question.Kind.MULTIPLE

    @property
    def picked_ids(self) -> frozenset[int]:
        return self.picked.choice_ids

    @property
    def text(self) -> str:
        return self.picked.text

    @property
    def verdict(self) -> str:
        """One of ``correct``, ``partial``, ``incorrect`` once answered; empty before."""
        if self.answer is None:
            return ""
        if self.answer.is_correct:
            return "correct"
        return "partial" if self.answer.score > 0 else "incorrect"

    @property
    def unanswered(self) -> bool:
        return self.answer is not None and self.picked.is_blank

    @property
    def score_label(self) -> str:
        return percent_label(self.answer.score) if self.answer is not None else ""

    @property
    def picked_choices(self) -> list[Choice]:
        return [choice for choice in self.choices if choice.pk in self.picked_ids]

    @property
    def choice_feedback(self) -> list[Choice]:
        """Picked choices that have feedback, once answered."""
        if self.answer is None:
            return []
        return [choice for choice in self.picked_choices if choice.feedback]

    @property
    def correct_ids(self) -> frozenset[int]:
        if self.answer is None or not self.reveal_answers:
            return frozenset()
        return frozenset(choice.pk for choice in self.choices if choice.is_correct)

    @property
    def correct_choices(self) -> list[Choice]:
        ids = self.correct_ids
        return [choice for choice in self.choices if choice.pk in ids]

    @property
    def accepted_answers(self) -> list[str]:
        if self.answer is None or not self.reveal_answers or not self.is_short_text:
            return []
        english = [accepted.text for accepted in self.question.accepted_answers.all()]
        return [*getattr(self.question, "translated_accepted", []), *english]

    @property
    def explanation(self) -> str:
        return self.question.explanation if self.answer is not None else ""


def quiz_question_items(
    *,
    attempt: Attempt,
    questions: list[Question],
    answers: dict[int, Answer],
    drafts: dict[int, AnswerInput] | None = None,
) -> list[QuestionItem]:
    """The attempt's questions, numbered, choices shuffled for it, with saved answers or drafts."""
    drafts = drafts or {}
    localize_questions(questions)  # in the request's language
    items = []
    for number, question in enumerate(questions, start=1):
        answer = answers.get(question.pk)
        picked = AnswerInput.from_answer(answer) if answer else drafts.get(question.pk)
        items.append(
            QuestionItem(
                question=question,
                number=number,
                choices=choices_in_attempt_order(question=question, seed=attempt.shuffle_seed),
                answer=answer,
                picked=picked or AnswerInput(),
                reveal_answers=attempt.quiz.reveal_answers,
            )
        )
    return items


@dataclass(frozen=True)
class AttemptReview:
    attempt: Attempt
    items: list[QuestionItem]
    passed: bool | None

    @property
    def score_label(self) -> str:
        return percent_label(self.attempt.score)

    @property
    def correct_count(self) -> int:
        return sum(1 for item in self.items if item.verdict == "correct")

    @property
    def provisional(self) -> bool:
        """Some answer still waits for the grader or an instructor: the score may change."""
        return self.attempt.grading_pending

    @property
    def pending_count(self) -> int:
        return sum(1 for item in self.items if item.grading_pending)

    @property
    def failed_count(self) -> int:
        return sum(1 for item in self.items if item.grading_failed)

    @property
    def review_count(self) -> int:
        """Graded answers that contradict a key idea and wait for an instructor."""
        return sum(1 for item in self.items if item.awaiting_review)


def attempt_review(*, attempt: Attempt) -> AttemptReview:
    """A submitted attempt question by question (its answered questions, in authored order)."""
    answers = attempt_answers(attempt=attempt)
    questions = list(
        Question.objects.filter(pk__in=answers)
        .order_by("order", "id")
        .prefetch_related("choices", "accepted_answers")
    )
    items = quiz_question_items(attempt=attempt, questions=questions, answers=answers)
    return AttemptReview(
        attempt=attempt, items=items, passed=passes(attempt.score, attempt.quiz.pass_mark)
    )
