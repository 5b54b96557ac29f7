"""Load the course files into the database, and export the database back to files.

``course_load(directory=..., force=False)`` is idempotent and atomic per lesson:
a broken file is reported with its name and reason and leaves nothing half-saved;
the other files still load. Edit protection: ``Lesson.loaded_hash`` is the
sha256 of the lesson's canonical form (see ``lessons.course_files``) as stored
right after the last load. If the database's canonical hash differs now, staff
edited the lesson in the admin, and the loader skips it unless ``force=True``.

``course_export(directory=...)`` writes one ``NN-slug.md`` per lesson such that
loading the export is a no-op. Over 450 lines on purpose: loading and exporting must build
the same canonical form, and keeping both here keeps them from drifting apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch

from .course_files import (
    DEFAULT_COURSE_SLUG,
    DEFAULT_COURSE_TITLE,
    CourseFileError,
    ParsedLesson,
    canonical_hash,
    lesson_file_name,
    lesson_file_text,
    lesson_files,
    normalise_body,
    normalise_text,
    parse_lesson_file,
)
from .models import (
    AcceptedAnswer,
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
from .translations import export_twins, load_twins

CHANGE_REASON = "load_course"


class CourseDirectoryError(Exception):
    """The course directory itself is missing or unreadable."""


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped_edited: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def clean(self) -> bool:
        return not self.errors and not self.warnings and not self.skipped_edited


# --- Canonical form of the database ---------------------------------------------------------


def lesson_queryset_for_canonical():
    questions = Question.objects.filter(is_active=True).prefetch_related(
        Prefetch("choices", queryset=Choice.objects.order_by("order", "id")),
        Prefetch("accepted_answers", queryset=AcceptedAnswer.objects.order_by("id")),
        Prefetch("reference_answers", queryset=ReferenceAnswer.objects.order_by("order", "id")),
        Prefetch("key_concepts", queryset=KeyConcept.objects.order_by("order", "id")),
        Prefetch("grading_examples", queryset=GradingExample.objects.order_by("order", "id")),
    )
    return Lesson.objects.select_related("course", "quiz").prefetch_related(
        Prefetch("quiz__questions", queryset=questions.order_by("order", "id"))
    )


def lesson_canonical(lesson: Lesson) -> dict[str, Any]:
    """The lesson (with quiz, active questions, choices, accepted answers) as a canonical dict."""
    try:
        quiz: Quiz | None = lesson.quiz
    except Quiz.DoesNotExist:
        quiz = None
    quiz_data = None
    if quiz is not None:
        questions = [q for q in quiz.questions.all() if q.is_active]
        quiz_data = {
            "title": normalise_text(quiz.title),
            "pass_mark": quiz.pass_mark,
            "attempts_allowed": quiz.attempts_allowed,
            "score_policy": quiz.score_policy,
            "reveal_answers": quiz.reveal_answers,
            "questions": [_question_canonical(question) for question in questions],
        }
    return {
        "slug": lesson.slug,
        "title": normalise_text(lesson.title),
        "section": normalise_text(lesson.section),
        "order": lesson.order,
        "duration": lesson.duration_minutes,
        "summary": normalise_text(lesson.summary),
        "course": lesson.course.slug,
        "body": normalise_body(lesson.body_markdown),
        "quiz": quiz_data,
    }


def _question_canonical(question: Question) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": question.key,
        "kind": question.kind,
        "prompt": normalise_text(question.prompt),
        "explanation": normalise_text(question.explanation),
        "partial_credit": question.partial_credit
        if question.kind == Question.Kind.MULTIPLE
        else False,
        "choices": [
            {
                "text": normalise_text(choice.text),
                "correct": choice.is_correct,
                "feedback": normalise_text(choice.feedback),
            }
            for choice in question.choices.all()
        ],
        "accepted": [answer.text for answer in question.accepted_answers.all()],
    }
    if question.kind == Question.Kind.FREE_TEXT:
        # Only free_text questions carry these keys (see lessons.course_files).
        data.update(
            threshold=round(question.similarity_threshold, 3),
            margin=round(question.similarity_margin, 3),
            references=[normalise_text(ref.text) for ref in question.reference_answers.all()],
            concepts=[_concept_canonical(c) for c in question.key_concepts.all()],
            examples=[
                {"label": e.label, "text": normalise_text(e.text)}
                for e in question.grading_examples.all()
            ],
        )
    return data


def _concept_canonical(concept: KeyConcept) -> dict[str, Any]:
    data: dict[str, Any] = {
        "label": normalise_text(concept.label),
        "phrases": [str(p) for p in concept.phrases],
    }
    if concept.misconceptions:  # only when there are some (see lessons.course_files)
        data["misconceptions"] = [str(m) for m in concept.misconceptions]
    return data


def lesson_current_hash(lesson: Lesson) -> str:
    return canonical_hash(lesson_canonical(lesson_queryset_for_canonical().get(pk=lesson.pk)))


def lesson_is_edited(lesson: Lesson) -> bool:
    """True when the lesson's current state differs from what the last load stored."""
    return lesson.loaded_hash != lesson_current_hash(lesson)


# --- Writing one lesson -------------------------------------------------------------------


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    """Set attributes; save (with a change reason for the history) only if one changed."""
    changed = obj.pk is None
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    if changed:
        obj._change_reason = CHANGE_REASON
        obj.save()
    return changed


def _save_choices(question: Question, wanted: list[dict[str, Any]], where: str) -> None:
    existing = list(question.choices.order_by("order", "id"))
    values = [
        {"text": c["text"], "is_correct": c["correct"], "feedback": c["feedback"], "order": i}
        for i, c in enumerate(wanted)
    ]
    current = [
        {"text": c.text, "is_correct": c.is_correct, "feedback": c.feedback, "order": c.order}
        for c in existing
    ]
    if current == values:
        return
    if not question.answers.exists():
        # Nobody answered this question yet: replace its choices outright.
        for choice in existing:
            choice._change_reason = CHANGE_REASON
            choice.delete()
        for value in values:
            _assign(Choice(question=question), value)
        return
    # Learners answered it. Answer.selected_choices points at Choice rows, so replacing
    # them would cut old answers loose. Trade-off: update the rows in place by position.
    # Old answers keep their links and stored scores, at the price that a reworded
    # choice shows its new text in old reviews (scores are not recomputed). A surplus
    # choice that someone picked can't be removed without rewriting their answer, so
    # the file is refused with a clear message instead.
    for choice, value in zip(existing, values, strict=False):
        _assign(choice, value)
    for value in values[len(existing) :]:
        _assign(Choice(question=question), value)
    for choice in existing[len(values) :]:
        if choice.answers.exists():
            raise CourseFileError(
                where,
                f"question {question.key}: choice {choice.text!r} was picked in learners' "
                "answers and can't be removed (keep it, or reword it in place)",
            )
        choice._change_reason = CHANGE_REASON
        choice.delete()


def _save_accepted(question: Question, wanted: list[str]) -> None:
    current = [answer.text for answer in question.accepted_answers.order_by("id")]
    if current == wanted:
        return
    # Nothing references accepted answers, so replacing them is always safe.
    for answer in question.accepted_answers.all():
        answer._change_reason = CHANGE_REASON
        answer.delete()
    for text in wanted:
        _assign(AcceptedAnswer(question=question), {"text": text})


def _replace_rows(manager: Any, model: type, wanted: list[dict[str, Any]], fields: list[str]):
    """Make ``manager``'s rows (ordered) equal ``wanted``; replaced outright when different.

    Reference answers, key concepts and examples are never pointed at by learners' answers
    (a graded answer keeps its own copy of the closest reference), so replacing is safe.
    """
    current = [
        {name: getattr(row, name) for name in fields} for row in manager.order_by("order", "id")
    ]
    if current == wanted:
        return
    for row in manager.all():
        row._change_reason = CHANGE_REASON
        row.delete()
    for order, values in enumerate(wanted):
        _assign(model(**{manager.field.name: manager.instance}), {**values, "order": order})


def _save_free_text(question: Question, item: dict[str, Any]) -> None:
    references = [{"text": text} for text in item.get("references", [])]
    concepts = [
        {
            "label": c["label"],
            "phrases": list(c["phrases"]),
            "misconceptions": list(c.get("misconceptions", [])),
        }
        for c in item.get("concepts", [])
    ]
    examples = [{"label": e["label"], "text": e["text"]} for e in item.get("examples", [])]
    _replace_rows(question.reference_answers, ReferenceAnswer, references, ["text"])
    _replace_rows(
        question.key_concepts, KeyConcept, concepts, ["label", "phrases", "misconceptions"]
    )
    _replace_rows(question.grading_examples, GradingExample, examples, ["label", "text"])


def _save_quiz(lesson: Lesson, data: dict[str, Any] | None, where: str) -> None:
    quiz = Quiz.objects.filter(lesson=lesson).first()
    if data is None:
        if quiz is not None:
            if quiz.attempts.exists():
                raise CourseFileError(
                    where,
                    "the file has no quiz, but the lesson's quiz has learner attempts; "
                    "keep the quiz in the file (or delete it in the admin on purpose)",
                )
            quiz.delete()
        return
    quiz = quiz or Quiz(lesson=lesson)
    _assign(
        quiz,
        {
            "title": data["title"],
            "pass_mark": data["pass_mark"],
            "attempts_allowed": data["attempts_allowed"],
            "score_policy": data["score_policy"],
            "reveal_answers": data["reveal_answers"],
        },
    )
    by_key = {question.key: question for question in quiz.questions.all()}
    wanted_keys = set()
    for order, item in enumerate(data["questions"]):
        wanted_keys.add(item["key"])
        question = by_key.get(item["key"]) or Question(quiz=quiz, key=item["key"])
        values = {
            "order": order,
            "kind": item["kind"],
            "prompt": item["prompt"],
            "explanation": item["explanation"],
            "partial_credit": item["partial_credit"],
            "is_active": True,
        }
        if item["kind"] == Question.Kind.FREE_TEXT:
            values.update(similarity_threshold=item["threshold"], similarity_margin=item["margin"])
        _assign(question, values)
        _save_choices(question, item["choices"], where)
        _save_accepted(question, item["accepted"])
        _save_free_text(question, item)
    for key, question in by_key.items():
        if key in wanted_keys:
            continue
        # Answer.question is PROTECT: a question learners answered is kept, inactive.
        if question.answers.exists():
            _assign(question, {"is_active": False})
        else:
            question._change_reason = CHANGE_REASON
            question.delete()


def _course_for(slug: str) -> Course:
    title = DEFAULT_COURSE_TITLE if slug == DEFAULT_COURSE_SLUG else slug.replace("-", " ").title()
    course, _ = Course.objects.get_or_create(slug=slug, defaults={"title": title})
    return course


def _apply(parsed: ParsedLesson, *, force: bool, report: LoadReport) -> None:
    data = parsed.data
    where = str(parsed.path)
    target_hash = canonical_hash(data)
    with transaction.atomic():
        lesson = (
            lesson_queryset_for_canonical()
            .select_for_update(of=("self",))
            .filter(slug=data["slug"])
            .first()
        )
        if lesson is not None:
            current = lesson_canonical(lesson)
            if current == data:
                _refresh_unchanged(lesson, target_hash, report, parsed)
                report.unchanged.append(data["slug"])
                return
            if lesson.loaded_hash != canonical_hash(current) and not force:
                report.skipped_edited.append(data["slug"])
                return
            outcome = report.updated
        else:
            lesson = Lesson(slug=data["slug"])
            outcome = report.created
        lesson.course = _course_for(data["course"])
        lesson.title = data["title"]
        lesson.section = data["section"]
        lesson.order = data["order"]
        lesson.duration_minutes = data["duration"]
        lesson.summary = data["summary"]
        lesson.body_markdown = data["body"]
        rendered = lesson_render(lesson=lesson, save=False)
        lesson.loaded_hash = target_hash
        lesson._change_reason = CHANGE_REASON
        lesson.save()
        _save_quiz(lesson, data["quiz"], where)
        stored = lesson_current_hash(lesson)
        if stored != target_hash:  # a lossy round trip would make every load an update
            raise CourseFileError(where, "internal error: stored lesson differs from the file")
    report.warnings.extend(f"{parsed.path.name}: {w}" for w in rendered.warnings)
    outcome.append(data["slug"])


def _refresh_unchanged(
    lesson: Lesson, target_hash: str, report: LoadReport, parsed: ParsedLesson
) -> None:
    """Same content as the file: re-render (the renderer may have changed), fix the hash."""
    rendered = lesson_render(lesson=lesson, save=False)
    updates: dict[str, Any] = {}
    if lesson.loaded_hash != target_hash:
        updates["loaded_hash"] = target_hash
    stored = Lesson.objects.values("body_html", "toc_html").get(pk=lesson.pk)
    if stored["body_html"] != rendered.html or stored["toc_html"] != rendered.toc_html:
        updates.update(body_html=rendered.html, toc_html=rendered.toc_html)
    if updates:  # derived fields only: no history entry
        Lesson.objects.filter(pk=lesson.pk).update(**updates)
    report.warnings.extend(f"{parsed.path.name}: {w}" for w in rendered.warnings)


# --- Public API ------------------------------------------------------------------------------


def course_load(*, directory: Path | str, force: bool = False) -> LoadReport:
    """Load every lesson file in ``directory``; see the module docstring."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CourseDirectoryError(f"course directory not found: {directory}")
    report = LoadReport()
    parsed: list[ParsedLesson] = []
    for path in lesson_files(directory):
        try:
            parsed.append(parse_lesson_file(path))
        except CourseFileError as exc:
            report.errors.append(str(exc))

    by_slug: dict[str, list[ParsedLesson]] = defaultdict(list)
    for item in parsed:
        by_slug[item.slug].append(item)
    by_order: dict[int, list[str]] = defaultdict(list)
    for item in parsed:
        by_order[item.data["order"]].append(item.path.name)
    for order, names in sorted(by_order.items()):
        if len(names) > 1:
            report.warnings.append(
                f"order {order} is used by more than one file: {', '.join(names)}"
            )

    for slug, items in by_slug.items():
        if len(items) > 1:
            names = ", ".join(item.path.name for item in items)
            report.errors.append(f"duplicate slug {slug!r} in {names}: none of them was loaded")
            continue
        item = items[0]
        report.warnings.extend(item.warnings)
        try:
            _apply(item, force=force, report=report)
        except CourseFileError as exc:
            report.errors.append(str(exc))
        except IntegrityError as exc:  # e.g. another load_course created it meanwhile
            report.errors.append(
                f"{item.path.name}: the database refused the change ({exc}); "
                "nothing was saved for this file, run load_course again"
            )
    # then each language's twins, against the English just loaded (lessons.translations)
    return load_twins(directory, report=report, force=force)


def course_export(*, directory: Path | str) -> list[Path]:
    """Write every lesson to ``directory/NN-slug.md``; returns the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for lesson in lesson_queryset_for_canonical().order_by("order", "id"):
        data = lesson_canonical(lesson)
        path = directory / lesson_file_name(data)
        path.write_text(lesson_file_text(data), encoding="utf-8")
        written.append(path)
    return written + export_twins(directory)
