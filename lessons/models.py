"""Courses, lessons, quizzes, attempts and progress.

Business rules live in services.py (writes), selectors/ (reads) and
grading.py (pure scoring); models only describe the data.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class ShownOnly:
    """Refuses to save an instance that `lessons.translations` filled with another language's
    text for display: saving it would write the translation over the English."""

    def save(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_localized", None):
            raise RuntimeError(
                f"{type(self).__name__} {self.pk} holds {self._localized} text for display; "
                "load it again to change it"
            )
        super().save(*args, **kwargs)  # type: ignore[misc]


class Course(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Lesson(ShownOnly, models.Model):
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


class Quiz(ShownOnly, models.Model):
    class ScorePolicy(models.TextChoices):
        BEST = "best", _("Best attempt")
        LAST = "last", _("Last attempt")
        FIRST = "first", _("First attempt")
        AVERAGE = "average", _("Average of attempts")

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


class Question(ShownOnly, models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTIPLE = "multiple", "Multiple select"
        TRUE_FALSE = "true_false", "True / false"
        SHORT_TEXT = "short_text", "Short text"
        FREE_TEXT = "free_text", "Explain in your words"

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
    # Explain in your words (free text), graded by meaning: see lessons.grading.
    similarity_threshold = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Explain in your words only: the similarity to a reference answer that "
        "earns full credit (run calibrate_free_text to get a suggestion).",
    )
    similarity_margin = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.01), MaxValueValidator(1.0)],
        help_text="Explain in your words only: credit falls linearly to 0 this far below "
        "the threshold.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["quiz", "key"], name="question_key_unique_per_quiz")
        ]

    def __str__(self) -> str:
        return self.prompt[:80]


class Choice(ShownOnly, models.Model):
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


class ReferenceAnswer(models.Model):
    """A model answer to an explain-in-your-words question; learners' answers are compared
    with every reference by meaning, and the closest one is shown to them afterwards."""

    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="reference_answers"
    )
    text = models.TextField()
    order = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text[:80]


class KeyConcept(models.Model):
    """An idea a right answer must contain: present when one of its phrases (any order, any
    word endings) or something close in meaning is in the answer, unless a piece of the answer
    is nearest to one of its misconceptions (see lessons.grading)."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="key_concepts")
    label = models.CharField(max_length=200, help_text="Shown to learners who miss it.")
    phrases = models.JSONField(
        default=list, help_text="Short phrases saying it in different words (a JSON list)."
    )
    misconceptions = models.JSONField(
        default=list,
        blank=True,
        help_text="Statements that contradict it (a JSON list): an answer nearest to one of "
        "them scores 0 and waits for an instructor's review.",
    )
    order = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.label


class GradingExample(models.Model):
    """A labelled example answer, for calibrating the automatic grade (and for tests)."""

    class Label(models.TextChoices):
        CORRECT = "correct", "Correct"
        PARTIAL = "partial", "Partly correct"
        WRONG = "wrong", "Wrong"

    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="grading_examples"
    )
    text = models.TextField()
    label = models.CharField(max_length=10, choices=Label.choices)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.get_label_display()}: {self.text[:60]}"


class CalibrationRun(models.Model):
    """One run of ``calibrate_free_text`` for a question: how often the automatic grade
    agreed with the staff labels, and the threshold that would agree most."""

    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="calibration_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    model_name = models.CharField(max_length=200)
    threshold = models.FloatField(help_text="The question's threshold during the run.")
    margin = models.FloatField()
    examples = models.PositiveIntegerField()
    agreement = models.FloatField(help_text="Share of examples where auto and staff agree.")
    suggested_threshold = models.FloatField()
    suggested_agreement = models.FloatField()
    applied = models.BooleanField(default=False)
    # {"rows": [{"text", "source", "staff", "auto", "score", "similarity", "missing"}], ...}
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"Calibration of {self.question.key} at {self.created_at:%Y-%m-%d %H:%M}"


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
    # True while an answer waits for the grading worker or for an instructor: the score is
    # provisional until then (recomputed by lessons.free_text.attempt_rescore).
    grading_pending = models.BooleanField(default=False)
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
    class GradingStatus(models.TextChoices):
        GRADED = "graded", "Graded"
        PENDING = "pending", "Waiting for the grader"
        FAILED = "failed", "Could not be graded automatically"

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    selected_choices = models.ManyToManyField(Choice, blank=True, related_name="answers")
    text = models.CharField(max_length=500, blank=True)
    # The score that counts: the instructor's review score if any, else the automatic one.
    score = models.FloatField(help_text="0..1")
    is_correct = models.BooleanField()
    # Checked inline before submit: the answer is locked for this attempt.
    checked_inline = models.BooleanField(default=False)
    answered_at = models.DateTimeField(auto_now_add=True)

    # --- Explain in your words: graded by meaning in a worker (lessons.free_text) -----------
    grading_status = models.CharField(
        max_length=10, choices=GradingStatus.choices, default=GradingStatus.GRADED
    )
    auto_score = models.FloatField(null=True, blank=True, help_text="0..1, the grader's.")
    similarity = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    closest_reference = models.TextField(blank=True)
    missing_concepts = models.JSONField(default=list, blank=True)
    grading_details = models.JSONField(default=dict, blank=True)
    grading_error = models.CharField(max_length=300, blank=True)
    grading_task_id = models.CharField(max_length=64, blank=True, db_index=True)
    grading_tries = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    graded_at = models.DateTimeField(null=True, blank=True)
    # An instructor's review: accepting the automatic score or overriding it.
    review_score = models.FloatField(null=True, blank=True, help_text="0..1")
    review_comment = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewed_answers",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

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


class LessonTranslation(models.Model):
    """A lesson in another language (``lessons/content/<language>/``, lessons.translations).

    The English lesson is the lesson; this holds only what a learner reads in the other
    language. Identity, order, quiz settings and grading stay on the lesson and its questions,
    so attempts, progress and statistics are one per question whatever the language.
    """

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=10, choices=[("zh-hans", "简体中文")])
    title = models.CharField(max_length=200)
    section = models.CharField(max_length=100)
    summary = models.TextField(blank=True)
    body_markdown = models.TextField()
    body_html = models.TextField(blank=True, editable=False)
    toc_html = models.TextField(blank=True, editable=False)
    quiz_title = models.CharField(max_length=200, blank=True)
    # Hash of the translation file's canonical form right after the last `load_course`
    loaded_hash = models.CharField(max_length=64, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["lesson__order", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["lesson", "language"], name="one_translation_per_lesson_and_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"


class QuestionTranslation(models.Model):
    """One question of a translated lesson: what the learner reads, and the answers typed in
    that language that count as right (short text). Choices are listed in the question's order."""

    translation = models.ForeignKey(
        LessonTranslation, on_delete=models.CASCADE, related_name="questions"
    )
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="translations")
    prompt = models.TextField()
    explanation = models.TextField()
    # [{"text", "feedback"}] in the question's choice order
    choices = models.JSONField(default=list, blank=True)
    accepted = models.JSONField(default=list, blank=True)  # short text, this language's forms
    references = models.JSONField(default=list, blank=True)  # model answers shown after
    concept_labels = models.JSONField(default=list, blank=True)  # in the concepts' order
    history = HistoricalRecords()

    class Meta:
        ordering = ["question__order", "question_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["translation", "question"], name="one_question_translation"
            )
        ]

    def __str__(self) -> str:
        return self.prompt[:80]
