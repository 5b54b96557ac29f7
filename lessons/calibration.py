"""Calibrating explain-in-your-words grading: does the automatic grade agree with staff?

For one question, the labelled examples are its ``GradingExample`` rows (written with the
course files) plus, unless left out, the answers an instructor reviewed (review score 100%
is "correct", 0% "wrong", anything between "partial"). Each example is embedded once by the
encoder (``inference.worker.engine.short_answer``, run in-process by ``manage.py
calibrate_free_text``); the pure rules of :func:`lessons.grading.grade_free_text` then label
it at any threshold without touching the model again, so the command can report the
agreement at the current threshold and search the threshold that agrees most.

The suggestion is the threshold from ``SEARCH`` with the highest agreement; among equally
good ones, the one nearest the current threshold (so a question that is fine stays put).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .grading import ConceptEvidence, FreeTextGrade, free_text_label, grade_free_text
from .models import Answer, CalibrationRun, GradingExample, Question

SEARCH = tuple(round(0.30 + step / 100, 2) for step in range(0, 66))  # 0.30 .. 0.95


@dataclass(frozen=True)
class LabelledExample:
    text: str
    staff: str  # correct | partial | wrong
    source: str  # "example" (course files) or "review" (an instructor's review)


@dataclass(frozen=True)
class ScoredExample:
    example: LabelledExample
    result: dict[str, Any]  # short_answer_similarities(...) for the example

    def grade(self, *, threshold: float, margin: float) -> FreeTextGrade:
        concepts = [
            ConceptEvidence(
                label=str(c["label"]), similarity=float(c["similarity"]), words=c.get("words", "")
            )
            for c in self.result.get("concepts", [])
        ]
        return grade_free_text(
            self.result["similarities"], threshold, margin=margin, concepts=concepts
        )


@dataclass(frozen=True)
class Agreement:
    threshold: float
    share: float  # 0..1
    confusion: Counter  # (staff, auto) -> count
    rows: list[dict[str, Any]]


def calibration_examples(*, question: Question, reviews: bool = True) -> list[LabelledExample]:
    """The question's labelled examples: authored ones, then reviewed learner answers."""
    examples = [
        LabelledExample(text=row.text, staff=row.label, source="example")
        for row in GradingExample.objects.filter(question=question).order_by("order", "id")
    ]
    if reviews:
        reviewed = Answer.objects.filter(
            question=question, reviewed_at__isnull=False, review_score__isnull=False
        ).exclude(text="")
        for answer in reviewed.order_by("reviewed_at", "id"):
            examples.append(
                LabelledExample(
                    text=answer.text,
                    staff=free_text_label(answer.review_score),
                    source="review",
                )
            )
    return examples


def agreement(scored: Sequence[ScoredExample], *, threshold: float, margin: float) -> Agreement:
    """How often the automatic label equals the staff label at ``threshold``."""
    rows = []
    confusion: Counter = Counter()
    for item in scored:
        grade = item.grade(threshold=threshold, margin=margin)
        confusion[(item.example.staff, grade.label)] += 1
        rows.append(
            {
                "text": item.example.text,
                "source": item.example.source,
                "staff": item.example.staff,
                "auto": grade.label,
                "score": grade.score,
                "raw": round(grade.raw, 4),
                "similarity": round(grade.similarity, 4),
                "coverage": round(grade.coverage, 4),
                "missing": grade.missing,
            }
        )
    agree = sum(1 for row in rows if row["staff"] == row["auto"])
    return Agreement(
        threshold=threshold,
        share=agree / len(rows) if rows else 0.0,
        confusion=confusion,
        rows=rows,
    )


def suggest_threshold(
    scored: Sequence[ScoredExample], *, current: float, margin: float
) -> Agreement:
    """The threshold in ``SEARCH`` that agrees most (nearest ``current`` among ties)."""
    candidates = [agreement(scored, threshold=t, margin=margin) for t in SEARCH]
    best = max(candidate.share for candidate in candidates)
    return min(
        (c for c in candidates if c.share == best),
        key=lambda c: (abs(c.threshold - current), c.threshold),
    )


def calibration_run_save(
    *,
    question: Question,
    scored: Sequence[ScoredExample],
    model_name: str,
    apply: bool = False,
) -> CalibrationRun:
    """Store one calibration report (and with ``apply`` set the suggested threshold)."""
    current = agreement(
        scored, threshold=question.similarity_threshold, margin=question.similarity_margin
    )
    suggestion = suggest_threshold(
        scored, current=question.similarity_threshold, margin=question.similarity_margin
    )
    run = CalibrationRun.objects.create(
        question=question,
        model_name=model_name,
        threshold=question.similarity_threshold,
        margin=question.similarity_margin,
        examples=len(scored),
        agreement=current.share,
        suggested_threshold=suggestion.threshold,
        suggested_agreement=suggestion.share,
        applied=apply,
        report={
            "rows": current.rows,
            "confusion": [
                {"staff": staff, "auto": auto, "count": count}
                for (staff, auto), count in sorted(current.confusion.items())
            ],
        },
    )
    if apply and question.similarity_threshold != suggestion.threshold:
        question.similarity_threshold = suggestion.threshold
        question._change_reason = f"calibration run {run.pk}"
        question.save(update_fields=["similarity_threshold"])
    return run
