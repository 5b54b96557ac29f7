"""Shared factory_boy factories for the lessons app.

Lessons are rendered through the real service (``lessons.services.lesson_render``)
so ``body_html``/``toc_html`` always match ``body_markdown``, as in production.

Question helpers build a valid question of each kind with its choices/answers:
``single_choice_question``, ``multiple_choice_question``, ``true_false_question``,
``short_text_question``; ``quiz_with_questions`` builds a quiz with one of each.
Attempt/Answer factories may be appended at the end by the quiz work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from lessons.models import (
    AcceptedAnswer,
    Answer,
    Attempt,
    Choice,
    Course,
    Lesson,
    Question,
    Quiz,
)

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"learner{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = False
    is_superuser = False

    @factory.post_generation
    def password(obj, create: bool, extracted: str | None, **kwargs: Any) -> None:
        obj.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class StaffUserFactory(UserFactory):
    """Staff with every permission (a superuser): what an instructor uses in the admin."""

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    is_superuser = True


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course
        django_get_or_create = ("slug",)

    slug = "bert-vs-gpt"
    title = "BERT vs GPT, hands on"
    description = "How BERT and GPT differ, by reading, checking yourself and running models."


class LessonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lesson
        skip_postgeneration_save = True

    course = factory.SubFactory(CourseFactory)
    slug = factory.Sequence(lambda n: f"lesson-{n}")
    title = factory.Sequence(lambda n: f"Lesson {n}")
    section = "Foundations"
    order = factory.Sequence(lambda n: n + 1)
    duration_minutes = 10
    summary = factory.LazyAttribute(lambda o: f"What {o.title} is about.")
    body_markdown = (
        "## Why it matters\n\nBERT reads both ways.\n\n### Details\n\nGPT reads left to right.\n"
    )

    @factory.post_generation
    def rendered(obj, create: bool, extracted: bool | None, **kwargs: Any) -> None:
        """Render through the real service unless ``rendered=False`` is passed."""
        if extracted is False:
            return
        from lessons.services import lesson_render

        lesson_render(lesson=obj, save=create)


class QuizFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quiz

    lesson = factory.SubFactory(LessonFactory)
    title = factory.LazyAttribute(lambda o: f"Check yourself: {o.lesson.title}")
    pass_mark = 70
    attempts_allowed = None
    score_policy = Quiz.ScorePolicy.BEST
    reveal_answers = True


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    quiz = factory.SubFactory(QuizFactory)
    key = factory.Sequence(lambda n: f"q{n}")
    order = factory.Sequence(lambda n: n)
    kind = Question.Kind.SINGLE
    prompt = factory.Sequence(lambda n: f"Question prompt number {n}?")
    explanation = factory.Sequence(lambda n: f"Explanation for question {n}.")
    partial_credit = False
    is_active = True


class ChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Choice

    question = factory.SubFactory(QuestionFactory)
    text = factory.Sequence(lambda n: f"Choice {n}")
    is_correct = False
    feedback = ""
    order = factory.Sequence(lambda n: n)


class AcceptedAnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AcceptedAnswer

    question = factory.SubFactory(QuestionFactory, kind=Question.Kind.SHORT_TEXT)
    text = "masked language modelling"


# --- Helpers building complete, valid questions --------------------------------------


def _choices(question: Question, texts: Sequence[str], correct: set[int]) -> list[Choice]:
    return [
        ChoiceFactory(
            question=question,
            text=text,
            is_correct=index in correct,
            feedback=f"Feedback for {text}.",
            order=index,
        )
        for index, text in enumerate(texts)
    ]


def single_choice_question(
    *,
    quiz: Quiz | None = None,
    texts: Sequence[str] = ("Encoder only", "Decoder only", "Both"),
    correct: int = 0,
    **kwargs: Any,
) -> Question:
    question = QuestionFactory(quiz=quiz or QuizFactory(), kind=Question.Kind.SINGLE, **kwargs)
    _choices(question, texts, {correct})
    return question


def multiple_choice_question(
    *,
    quiz: Quiz | None = None,
    texts: Sequence[str] = ("[CLS]", "[SEP]", "[MASK]", "<|endoftext|>"),
    correct: Sequence[int] = (0, 1, 2),
    partial_credit: bool = False,
    **kwargs: Any,
) -> Question:
    question = QuestionFactory(
        quiz=quiz or QuizFactory(),
        kind=Question.Kind.MULTIPLE,
        partial_credit=partial_credit,
        **kwargs,
    )
    _choices(question, texts, set(correct))
    return question


def true_false_question(
    *, quiz: Quiz | None = None, answer: bool = True, **kwargs: Any
) -> Question:
    """Stored the way the loader stores it: choices "True" (order 0) and "False" (order 1)."""
    question = QuestionFactory(quiz=quiz or QuizFactory(), kind=Question.Kind.TRUE_FALSE, **kwargs)
    ChoiceFactory(
        question=question, text="True", is_correct=answer, order=0, feedback="Feedback for True."
    )
    ChoiceFactory(
        question=question,
        text="False",
        is_correct=not answer,
        order=1,
        feedback="Feedback for False.",
    )
    return question


def short_text_question(
    *,
    quiz: Quiz | None = None,
    accepted: Sequence[str] = ("masked language modelling", "MLM"),
    **kwargs: Any,
) -> Question:
    question = QuestionFactory(quiz=quiz or QuizFactory(), kind=Question.Kind.SHORT_TEXT, **kwargs)
    for text in accepted:
        AcceptedAnswerFactory(question=question, text=text)
    return question


def quiz_with_questions(*, lesson: Lesson | None = None, **quiz_kwargs: Any) -> Quiz:
    """A quiz with one valid question of each kind, in the order single, multiple, t/f, text."""
    quiz = QuizFactory(lesson=lesson or LessonFactory(), **quiz_kwargs)
    single_choice_question(quiz=quiz, key="single", order=0)
    multiple_choice_question(quiz=quiz, key="multiple", order=1)
    true_false_question(quiz=quiz, key="true-false", order=2)
    short_text_question(quiz=quiz, key="short-text", order=3)
    return quiz


# --- Attempts and answers (quiz work) ----------------------------------------------------


class AttemptFactory(factory.django.DjangoModelFactory):
    """An open attempt by a user (pass ``user=None, anon_id=...`` for an anonymous one)."""

    class Meta:
        model = Attempt

    quiz = factory.SubFactory(QuizFactory)
    user = factory.SubFactory(UserFactory)
    anon_id = ""
    status = Attempt.Status.OPEN
    shuffle_seed = factory.Sequence(lambda n: 1000 + n)


class SubmittedAttemptFactory(AttemptFactory):
    """A submitted attempt with a score set directly (no answers): for gradebook/progress rows."""

    status = Attempt.Status.SUBMITTED
    score = 1.0
    submitted_at = factory.LazyFunction(timezone.now)


class AnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Answer
        skip_postgeneration_save = True

    attempt = factory.SubFactory(AttemptFactory)
    question = factory.SubFactory(QuestionFactory)
    text = ""
    score = 0.0
    is_correct = False
    checked_inline = False

    @factory.post_generation
    def selected_choices(obj, create: bool, extracted: Sequence[Choice] | None, **kwargs: Any):  # noqa: N805
        if create and extracted:
            obj.selected_choices.set(extracted)


# --- Explain in your words (free text) -------------------------------------------------------


def free_text_question(
    *,
    quiz: Quiz | None = None,
    references: Sequence[str] = (
        "BERT was trained to fill in masked words using the context on both sides, not to "
        "predict the next word from the left, so it never learned to continue a text.",
    ),
    concepts: Sequence[tuple[str, Sequence[str]]] = (
        ("fills in masked words", ("fill in masked words", "masked language modelling")),
        ("sees both sides", ("context on both sides", "bidirectional")),
    ),
    examples: Sequence[tuple[str, str]] = (),
    threshold: float = 0.6,
    **kwargs: Any,
) -> Question:
    """An explain-in-your-words question with reference answers, key concepts and examples."""
    from lessons.models import GradingExample, KeyConcept, ReferenceAnswer

    kwargs.setdefault("prompt", "Why can't BERT simply generate text left to right?")
    question = QuestionFactory(
        quiz=quiz or QuizFactory(),
        kind=Question.Kind.FREE_TEXT,
        similarity_threshold=threshold,
        **kwargs,
    )
    for order, text in enumerate(references):
        ReferenceAnswer.objects.create(question=question, text=text, order=order)
    for order, (label, phrases) in enumerate(concepts):
        KeyConcept.objects.create(
            question=question, label=label, phrases=list(phrases), order=order
        )
    for order, (label, text) in enumerate(examples):
        GradingExample.objects.create(question=question, label=label, text=text, order=order)
    return question
