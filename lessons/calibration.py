"""Calibrating explain-in-your-words grading: does the automatic grade agree with staff?

For one question, the *tuning* examples are its ``GradingExample`` rows (written with the
course files) plus, unless left out, the answers an instructor reviewed (review score 100%
is "correct", 0% "wrong", anything between "partial"). Each example is embedded once by the
encoder (``inference.worker.engine.short_answer``, run in-process by ``manage.py
calibrate_free_text``); the pure rules of :func:`lessons.grading.grade_free_text` then label
it at any threshold without touching the model again, so the command can report the
agreement at the current threshold and search the threshold that agrees most.

The suggestion is the threshold from ``SEARCH`` with the highest agreement on the tuning
examples; among equally good ones, the one nearest the current threshold (so a question that
is fine stays put).

The *held-out* answers (``HELDOUT_FILE``, :func:`heldout_examples`) are labelled the same way
but never used to choose anything: agreement on the examples that chose the threshold and the
phrases flatters the grader, agreement on answers it was not tuned on is the figure to trust.
Both are reported, with two checks that matter more than agreement: answers labelled correct
that score below the quiz's pass mark, and answers marked as contradicting a key idea that
reach it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from .course_files import normalise_text
from .grading import (
    FREE_TEXT_LABELS,
    FreeTextGrade,
    concept_evidence,
    free_text_label,
    grade_free_text,
    passes,
)
from .models import Answer, CalibrationRun, GradingExample, Question

SEARCH = tuple(round(0.30 + step / 100, 2) for step in range(0, 66))  # 0.30 .. 0.95
HELDOUT_FILE = Path(settings.BASE_DIR) / "lessons" / "heldout" / "free_text.yaml"
HELDOUT_KEYS = {"label", "text", "contradicts", "written"}


class HeldOutError(ValueError):
    """The held-out file can't be read; the message says where and why."""


@dataclass(frozen=True)
class LabelledExample:
    text: str
    staff: str  # correct | partial | wrong
    source: str  # "example" (course files), "review" (an instructor's review) or "heldout"
    contradicts: bool = False  # states the opposite of a key idea (held-out answers say so)
    written: str = ""  # held out: the batch it was written in ("" for the first answers)


@dataclass(frozen=True)
class ScoredExample:
    example: LabelledExample
    result: dict[str, Any]  # short_answer_similarities(...) for the example

    def grade(self, *, threshold: float, margin: float) -> FreeTextGrade:
        return grade_free_text(
            self.result["similarities"],
            threshold,
            margin=margin,
            concepts=concept_evidence(self.result.get("concepts", [])),
        )


@dataclass(frozen=True)
class Agreement:
    threshold: float
    share: float  # 0..1
    confusion: Counter  # (staff, auto) -> count
    rows: list[dict[str, Any]]

    @property
    def agreeing(self) -> int:
        return sum(1 for row in self.rows if row["staff"] == row["auto"])

    def checks(self, pass_mark: float) -> dict[str, int]:
        """Counts that matter more than agreement, at the quiz's ``pass_mark`` (percent):
        answers labelled correct that don't pass, answers marked as contradicting a key idea
        that pass, answers labelled wrong that pass, and answers sent to staff review."""
        rows = self.rows
        return {
            "correct_below_pass": sum(
                1 for r in rows if r["staff"] == "correct" and not passes(r["score"], pass_mark)
            ),
            "contradictions_passing": sum(
                1 for r in rows if r.get("contradicts") and passes(r["score"], pass_mark)
            ),
            "wrong_passing": sum(
                1 for r in rows if r["staff"] == "wrong" and passes(r["score"], pass_mark)
            ),
            "needs_review": sum(1 for r in rows if r.get("contradicted")),
        }


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


def heldout_file_read(path: Path | str = HELDOUT_FILE) -> dict[tuple[str, str], list]:
    """The held-out answers: ``{(lesson slug, question key): [LabelledExample]}``.

    The file maps lesson slugs to question keys to lists of ``{label, text[, contradicts,
    written]}`` (see the file's header; ``written`` names the batch an answer was written in,
    so the report can show the answers written after the method was frozen apart). A missing
    file is no held-out set; a malformed one raises :class:`HeldOutError`.
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HeldOutError(f"{path.name}: can't be read: {exc}") from exc
    if not isinstance(data, dict):
        raise HeldOutError(f"{path.name}: must map lesson slugs to questions")
    found: dict[tuple[str, str], list[LabelledExample]] = {}
    for slug, questions in data.items():
        if not isinstance(questions, dict):
            raise HeldOutError(f"{path.name}: {slug}: must map question keys to answers")
        for key, answers in questions.items():
            where = f"{path.name}: {slug} / {key}"
            if not isinstance(answers, list) or not answers:
                raise HeldOutError(f"{where}: must be a non-empty list of {{label, text}}")
            examples = []
            for index, item in enumerate(answers, start=1):
                if not isinstance(item, dict) or set(item) - HELDOUT_KEYS:
                    raise HeldOutError(
                        f"{where}, answer {index}: a mapping of label, text and contradicts"
                    )
                text = item.get("text")
                if item.get("label") not in FREE_TEXT_LABELS:
                    raise HeldOutError(
                        f"{where}, answer {index}: `label` must be one of "
                        f"{', '.join(FREE_TEXT_LABELS)}"
                    )
                if not isinstance(text, str) or not text.strip():
                    raise HeldOutError(f"{where}, answer {index}: `text` is required")
                if not isinstance(item.get("contradicts", False), bool):
                    raise HeldOutError(f"{where}, answer {index}: `contradicts` is true or false")
                if not isinstance(item.get("written", ""), str):
                    raise HeldOutError(f"{where}, answer {index}: `written` names a batch")
                examples.append(
                    LabelledExample(
                        text=normalise_text(text).strip(),
                        staff=item["label"],
                        source="heldout",
                        contradicts=item.get("contradicts", False),
                        written=item.get("written", "").strip(),
                    )
                )
            found[(str(slug), str(key))] = examples
    return found


def heldout_examples(
    *, question: Question, heldout: dict[tuple[str, str], list]
) -> tuple[list[LabelledExample], list[LabelledExample]]:
    """The question's held-out answers, and those dropped because a tuning example has the
    same text (an answer tuned on is no longer held out)."""
    answers = heldout.get((question.quiz.lesson.slug, question.key), [])
    tuning = {
        " ".join(text.split()).casefold()
        for text in GradingExample.objects.filter(question=question).values_list("text", flat=True)
    }
    kept = [a for a in answers if " ".join(a.text.split()).casefold() not in tuning]
    dropped = [a for a in answers if " ".join(a.text.split()).casefold() in tuning]
    return kept, dropped


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
                "contradicted": grade.contradicted,
                "contradicts": item.example.contradicts,
                "written": item.example.written,
            }
        )
    agree = sum(1 for row in rows if row["staff"] == row["auto"])
    return Agreement(
        threshold=threshold,
        share=agree / len(rows) if rows else 0.0,
        confusion=confusion,
        rows=rows,
    )


def _confusion_rows(confusion: Counter) -> list[dict[str, Any]]:
    return [
        {"staff": staff, "auto": auto, "count": count}
        for (staff, auto), count in sorted(confusion.items())
    ]


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
    heldout: Sequence[ScoredExample] = (),
) -> CalibrationRun:
    """Store one calibration report (and with ``apply`` set the suggested threshold).

    ``scored`` are the tuning examples (they choose the suggestion); ``heldout`` the
    held-out answers, reported apart (``report["heldout"]``) and never searched on.
    """
    current = agreement(
        scored, threshold=question.similarity_threshold, margin=question.similarity_margin
    )
    suggestion = suggest_threshold(
        scored, current=question.similarity_threshold, margin=question.similarity_margin
    )
    pass_mark = question.quiz.pass_mark
    report: dict[str, Any] = {
        "rows": current.rows,
        "confusion": _confusion_rows(current.confusion),
        "pass_mark": pass_mark,
        "checks": current.checks(pass_mark),
    }
    if heldout:
        held = agreement(
            heldout, threshold=question.similarity_threshold, margin=question.similarity_margin
        )
        report["heldout"] = {
            "examples": len(held.rows),
            "agreement": held.share,
            "agreeing": held.agreeing,
            "rows": held.rows,
            "confusion": _confusion_rows(held.confusion),
            "checks": held.checks(pass_mark),
        }
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
        report=report,
    )
    if apply and question.similarity_threshold != suggestion.threshold:
        question.similarity_threshold = suggestion.threshold
        question._change_reason = f"calibration run {run.pk}"
        question.save(update_fields=["similarity_threshold"])
    return run
