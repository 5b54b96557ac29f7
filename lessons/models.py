"""Courses, lessons, quizzes, attempts and progress.

Business rules live in services.py (writes), selectors.py (reads) and
grading.py (pure scoring); models only describe the data.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords


class Course(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons")
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    section = models.CharField(max_length=100)
    order = models.PositiveIntegerField(default=0)
    duration_minutes = models.PositiveIntegerField(default=10)
    summary = models.TextField(blank=True)
    body_markdown = models.TextField()
    # Rendered and sanitized once on save (lessons.markdown), never per request.
    body_html = models.TextField(blank=True, editable=False)
    toc_html = models.TextField(blank=True, editable=False)
    # Hash of the lesson's canonical export (lesson + quiz) right after the
    # last `load_course`; a different hash now means staff edited it since.
    loaded_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("lessons:lesson-detail", kwargs={"slug": self.slug})


class Quiz(models.Model):
    class ScorePolicy(models.TextChoices):
        BEST = "best", "Best attempt"
        LAST = "last", "Last attempt"
        FIRST = "first", "First attempt"
        AVERAGE = "average", "Average of attempts"

    lesson = models.OneToOneField(Lesson, on_delete=models.CASCADE, related_name="quiz")
    title = models.CharField(max_length=200)
    attempts_allowed = models.PositiveIntegerField(
        null=True, blank=True, help_text="Leave empty for unlimited attempts."
    )
    pass_mark = models.PositiveIntegerField(default=70, help_text="Percent needed to pass.")
    score_policy = models.CharField(
        max_length=10, choices=ScorePolicy.choices, default=ScorePolicy.BEST
    )
    reveal_answers = models.BooleanField(
        default=True, help_text="Show correct answers and explanations after submit."
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "quizzes"

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("lessons:quiz-detail", kwargs={"slug": self.lesson.slug})


class Question(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTIPLE = "multiple", "Multiple select"
        TRUE_FALSE = "true_false", "True / false"
        SHORT_TEXT = "short_text", "Short text"

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    # Stable identifier from the course files, so reloading updates in place.
    key = models.SlugField(max_length=80)
    order = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    prompt = models.TextField()
    explanation = models.TextField(help_text="Shown after the learner answers.")
    partial_credit = models.BooleanField(
        default=False,
        help_text="Multiple select only: score the share of correct picks "
        "instead of all-or-nothing.",
    )
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["quiz", "key"], name="question_key_unique_per_quiz")
        ]

    def __str__(self) -> str:
        return self.prompt[:80]


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=500)
    is_correct = models.BooleanField(default=False)
    feedback = models.TextField(blank=True, help_text="Shown after answering, if picked.")
    order = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text


class AcceptedAnswer(models.Model):
    """A short-text answer that counts as correct (compared after normalising)."""

    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="accepted_answers"
    )
    text = models.CharField(max_length=300)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.text


class Attempt(models.Model):
    """One try at a quiz. Opened when the quiz page is shown, graded once on submit."""

    class Status(models.TextChoices):
        OPEN = "open", "In progress"
        SUBMITTED = "submitted", "Submitted"

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="attempts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quiz_attempts",
    )
    # Anonymous learners are identified by an id kept in their session; their
    # attempts move to the account when they sign up or log in.
    anon_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    shuffle_seed = models.PositiveIntegerField()
    score = models.FloatField(null=True, blank=True, help_text="0..1 once submitted.")
    started_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.quiz} #{self.pk}"

    @property
    def percent(self) -> int | None:
        return None if self.score is None else round(self.score * 100)


class Answer(models.Model):
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    selected_choices = models.ManyToManyField(Choice, blank=True, related_name="answers")
    text = models.CharField(max_length=500, blank=True)
    score = models.FloatField(help_text="0..1")
    is_correct = models.BooleanField()
    # Checked inline before submit: the answer is locked for this attempt.
    checked_inline = models.BooleanField(default=False)
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attempt", "question"], name="one_answer_per_question")
        ]

    def __str__(self) -> str:
        return f"Answer to {self.question_id} in attempt {self.attempt_id}"


class LessonRead(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    anon_id = models.CharField(max_length=64, blank=True, db_index=True)
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lesson", "user"],
                condition=models.Q(user__isnull=False),
                name="one_read_per_user",
            ),
            models.UniqueConstraint(
                fields=["lesson", "anon_id"],
                condition=models.Q(user__isnull=True),
                name="one_read_per_anon",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lesson_id} read at {self.read_at:%Y-%m-%d}"
