"""The course in other languages: loading and exporting lesson twins, and showing a lesson,
its quiz and its questions in the language of the request.

A twin is ``lessons/content/<language>/NN-name.md``, a whole lesson file checked against the
English one by ``course_files.twins`` (what it translates and what it copies). Loading stores
only what it translates: a ``LessonTranslation`` per lesson and language, a
``QuestionTranslation`` per question. Identity stays on the English rows, so attempts,
progress, the gradebook and statistics are one per question whatever the language a learner
reads in.

Edit protection works as for English lessons: ``LessonTranslation.loaded_hash`` is the hash of
the twin's canonical form right after the last load; staff edits in the admin make it differ,
and the loader then leaves the translation alone unless forced.

Reading: ``localize_lessons``/``localize_quiz`` put the translated text on the instances a
view is about to show (in memory only: ``Lesson.save`` refuses a localized instance). A lesson
with no twin in the language is shown in English with ``translation_missing`` set, which the
page turns into a visible notice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext

from .course_files import (
    CourseFileError,
    canonical_hash,
    lesson_file_name,
    lesson_file_text,
    lesson_files,
    normalise_body,
    normalise_text,
    parse_lesson_file,
)
from .course_files.twins import LANGUAGES, twin_problems
from .markdown import render_lesson
from .models import Lesson, LessonTranslation, Question, QuestionTranslation, Quiz

if TYPE_CHECKING:
    from .loader import LoadReport

CHANGE_REASON = "load_course"
TRUE_FALSE_LABELS = ("True", "False")  # the parser's choice texts for true_false questions


def request_language() -> str:
    """The active language as one of settings.LANGUAGES' codes (English when none)."""
    code = translation.get_language() or settings.LANGUAGE_CODE
    known = {lang for lang, _name in settings.LANGUAGES}
    return code if code in known else settings.LANGUAGE_CODE


def translated_language(language: str | None = None) -> str | None:
    """The twin language to show, or None for English."""
    language = language or request_language()
    return language if language in LANGUAGES else None


# === Canonical form of a stored translation ===================================================


def twin_canonical(english: dict[str, Any], tr: LessonTranslation) -> dict[str, Any]:
    """The twin file's canonical dict: the English lesson's, with the translated parts."""
    data = {
        **english,
        "title": normalise_text(tr.title),
        "section": normalise_text(tr.section),
        "summary": normalise_text(tr.summary),
        "body": normalise_body(tr.body_markdown),
    }
    if english.get("quiz") is None:
        return data
    by_key = {qt.question.key: qt for qt in tr.questions.all()}
    questions = []
    for question in english["quiz"]["questions"]:
        qt = by_key.get(question["key"])
        if qt is None:
            questions.append(question)
            continue
        item = {
            **question,
            "prompt": normalise_text(qt.prompt),
            "explanation": normalise_text(qt.explanation),
            "choices": [
                {**choice, "text": normalise_text(mine["text"]), "feedback": mine["feedback"]}
                for choice, mine in zip(
                    question["choices"], _padded(qt.choices, question), strict=True
                )
            ],
            "accepted": list(qt.accepted),
        }
        if "references" in question:
            item["references"] = [normalise_text(text) for text in qt.references]
            item["concepts"] = [
                {**concept, "label": label}
                for concept, label in zip(
                    question["concepts"], _labels(qt.concept_labels, question), strict=True
                )
            ]
        questions.append(item)
    data["quiz"] = {
        **english["quiz"],
        "title": normalise_text(tr.quiz_title),
        "questions": questions,
    }
    return data


def _padded(choices: list[dict], question: dict) -> list[dict]:
    mine = list(choices)[: len(question["choices"])]
    return mine + [dict(c) for c in question["choices"][len(mine) :]]


def _labels(labels: list[str], question: dict) -> list[str]:
    concepts = question["concepts"]
    mine = list(labels)[: len(concepts)]
    return mine + [c["label"] for c in concepts[len(mine) :]]


def _translation_queryset():
    return LessonTranslation.objects.select_related("lesson").prefetch_related(
        "questions__question"
    )


# === Loading and exporting ====================================================================


def load_twins(directory: Path | str, *, report: LoadReport, force: bool = False) -> LoadReport:
    """Load every ``<directory>/<language>/*.md`` twin whose English lesson is loaded, into
    ``report`` (the English load's: ``course_load`` calls this last)."""
    from .loader import lesson_canonical, lesson_queryset_for_canonical

    for language in LANGUAGES:
        folder = Path(directory) / language
        if not folder.is_dir():
            continue
        for path in lesson_files(folder):
            name = f"{language}/{path.name}"
            shown = f"{path.stem} [{language}]"
            try:
                parsed = parse_lesson_file(path)
            except CourseFileError as exc:
                report.errors.append(f"{language}/{exc}")
                continue
            lesson = lesson_queryset_for_canonical().filter(slug=parsed.slug).first()
            if lesson is None:
                report.errors.append(f"{name}: no English lesson with slug {parsed.slug!r}")
                continue
            english = lesson_canonical(lesson)
            problems = twin_problems(english, parsed.data, language)
            if problems:
                report.errors.append(f"{name}: " + "; ".join(problems))
                continue
            report.warnings.extend(f"{language}/{w}" for w in parsed.warnings)
            _apply_twin(lesson, english, parsed.data, language, shown, force=force, report=report)
    return report


def _apply_twin(lesson, english, data, language, name, *, force: bool, report: LoadReport):
    target = canonical_hash(data)
    with transaction.atomic():
        tr = (
            _translation_queryset()
            .select_for_update(of=("self",))
            .filter(lesson=lesson, language=language)
            .first()
        )
        if tr is not None:
            current = twin_canonical(english, tr)
            if current == data:
                # same content: re-render (the renderer may have changed), fix the hash;
                # derived fields only, so no history entry
                stored = (tr.body_html, tr.toc_html)
                rendered = translation_render(tr)
                updates = {"loaded_hash": target} if tr.loaded_hash != target else {}
                if stored != (tr.body_html, tr.toc_html):
                    updates.update(body_html=tr.body_html, toc_html=tr.toc_html)
                if updates:
                    LessonTranslation.objects.filter(pk=tr.pk).update(**updates)
                report.warnings.extend(f"{name}: {w}" for w in rendered.warnings)
                report.unchanged.append(name)
                return
            if tr.loaded_hash != canonical_hash(current) and not force:
                report.skipped_edited.append(name)
                return
            outcome = report.updated
        else:
            tr = LessonTranslation(lesson=lesson, language=language)
            outcome = report.created
        tr.title, tr.section, tr.summary = data["title"], data["section"], data["summary"]
        tr.body_markdown = data["body"]
        tr.quiz_title = data["quiz"]["title"] if data.get("quiz") else ""
        rendered = translation_render(tr)
        tr.loaded_hash = target
        tr._change_reason = CHANGE_REASON
        tr.save()
        _save_questions(tr, lesson, data)
    report.warnings.extend(f"{name}: {w}" for w in rendered.warnings)
    outcome.append(name)


def _save_questions(tr: LessonTranslation, lesson: Lesson, data: dict[str, Any]) -> None:
    if not data.get("quiz"):
        tr.questions.all().delete()
        return
    questions = {q.key: q for q in Question.objects.filter(quiz__lesson=lesson, is_active=True)}
    existing = {qt.question_id: qt for qt in tr.questions.all()}
    kept = set()
    for item in data["quiz"]["questions"]:
        question = questions[item["key"]]
        qt = existing.get(question.pk) or QuestionTranslation(translation=tr, question=question)
        values = {
            "prompt": item["prompt"],
            "explanation": item["explanation"],
            "choices": [{"text": c["text"], "feedback": c["feedback"]} for c in item["choices"]],
            "accepted": list(item.get("accepted") or []),
            "references": list(item.get("references") or []),
            "concept_labels": [c["label"] for c in item.get("concepts") or []],
        }
        if qt.pk is None or any(getattr(qt, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(qt, key, value)
            qt._change_reason = CHANGE_REASON
            qt.save()
        kept.add(qt.pk)
    tr.questions.exclude(pk__in=kept).delete()


# The site's own pages, whose links in a translated text go to the same page in its language
_SITE_LINK = re.compile(
    r'href="(/(?:(?:lessons|demos|accounts|progress|staff|attempts|interview)/[^"]*)?)"'
)


def localize_links(html: str, language: str) -> str:
    """Links to the site's pages in `html` (``/lessons/gpt/``) as those pages in `language`
    (``/zh-hans/lessons/gpt/``); static files, the admin and other sites are left alone."""
    return _SITE_LINK.sub(lambda m: f'href="/{language}{m.group(1)}"', html)


def translation_render(tr: LessonTranslation, *, save: bool = False):
    """Fill ``body_html``/``toc_html`` from the translation's Markdown, as lesson_render does
    (links to the site's pages go to their pages in the translation's language)."""
    rendered = render_lesson(tr.body_markdown)
    tr.body_html, tr.toc_html = localize_links(rendered.html, tr.language), rendered.toc_html
    if save and tr.pk is not None:
        tr.save(update_fields=["body_html", "toc_html", "updated_at"])
    return rendered


def export_twins(directory: Path | str) -> list[Path]:
    """Write every stored translation to ``directory/<language>/NN-slug.md``."""
    from .loader import lesson_canonical, lesson_queryset_for_canonical

    written = []
    lessons = {lesson.pk: lesson for lesson in lesson_queryset_for_canonical()}
    for tr in _translation_queryset().order_by("lesson__order", "language"):
        english = lesson_canonical(lessons[tr.lesson_id])
        data = twin_canonical(english, tr)
        folder = Path(directory) / tr.language
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / lesson_file_name(data)
        path.write_text(lesson_file_text(data), encoding="utf-8")
        written.append(path)
    return written


# === Reading: the request's language ==========================================================


def localize_lessons(lessons: Iterable[Lesson | None], language: str | None = None) -> None:
    """Show `lessons` in the language (in memory): title, section, summary, body, quiz title.

    Sets ``shown_language`` on each, and ``translation_missing`` where the language has no
    twin of it (the page says so and shows the English).
    """
    wanted = translated_language(language)
    items = [lesson for lesson in lessons if lesson is not None]
    for lesson in items:
        lesson.translation_missing = False
        lesson.shown_language = settings.LANGUAGE_CODE
    if wanted is None or not items:
        return
    found = {
        tr.lesson_id: tr
        for tr in LessonTranslation.objects.filter(
            lesson_id__in={lesson.pk for lesson in items}, language=wanted
        ).defer("body_markdown")
    }
    for lesson in items:
        tr = found.get(lesson.pk)
        if tr is None:
            lesson.translation_missing = True
            continue
        lesson.title, lesson.section, lesson.summary = tr.title, tr.section, tr.summary
        lesson.body_html, lesson.toc_html = tr.body_html, tr.toc_html
        lesson.shown_language = wanted
        lesson._localized = wanted
        lesson.translated_quiz_title = tr.quiz_title
        if Lesson.quiz.is_cached(lesson) and lesson.quiz is not None and tr.quiz_title:
            lesson.quiz.title = tr.quiz_title
            lesson.quiz._localized = wanted


def localize_quiz(quiz: Quiz | None, language: str | None = None) -> None:
    """The quiz's title in the language (its lesson is localized with it)."""
    if quiz is None:
        return
    localize_lessons([quiz.lesson], language)  # reads the translation's quiz title too
    title = getattr(quiz.lesson, "translated_quiz_title", "")
    if title:
        quiz.title = title
        quiz._localized = quiz.lesson.shown_language


def localize_questions(questions: Iterable[Question], language: str | None = None) -> None:
    """Prompts, explanations, choices' text and feedback in the language (in memory).

    Uses each question's prefetched ``choices`` (and ``translations`` when prefetched, as
    quiz_active_questions does; one query otherwise); true/false choices read "True"/"False"
    in the active language. Sets ``translated_accepted``, and ``reference_map`` /
    ``concept_map`` (English model answer or concept label -> this language's) where the
    language has them.
    """
    questions = list(questions)
    wanted = translated_language(language)
    for question in questions:
        question.shown_language = settings.LANGUAGE_CODE
    if wanted is None or not questions:
        return
    found: dict[int, QuestionTranslation] = {}
    unfetched = [q.pk for q in questions if "translations" not in _prefetched(q)]
    if unfetched:
        found.update(
            (qt.question_id, qt)
            for qt in QuestionTranslation.objects.filter(
                question_id__in=unfetched, translation__language=wanted
            )
        )
    for question in questions:
        if "translations" in _prefetched(question):
            for qt in question.translations.all():
                if qt.translation.language == wanted:
                    found[question.pk] = qt
    labels = {"True": gettext("True"), "False": gettext("False")}
    for question in questions:
        qt = found.get(question.pk)
        if qt is None:
            continue
        question.prompt, question.explanation = qt.prompt, qt.explanation
        question.shown_language = wanted
        question._localized = wanted
        question.translated_accepted = [str(text) for text in qt.accepted]
        if question.kind == Question.Kind.FREE_TEXT:
            english_refs = [ref.text for ref in question.reference_answers.all()]
            question.reference_map = dict(zip(english_refs, qt.references, strict=False))
            english_labels = [concept.label for concept in question.key_concepts.all()]
            question.concept_map = dict(zip(english_labels, qt.concept_labels, strict=False))
        for choice, mine in zip(question.choices.all(), qt.choices, strict=False):
            if question.kind == Question.Kind.TRUE_FALSE and choice.text in labels:
                choice.text = labels[choice.text]
            else:
                choice.text = mine.get("text") or choice.text
            choice.feedback = mine.get("feedback") or ""
            choice._localized = wanted


def _prefetched(instance) -> dict:
    return getattr(instance, "_prefetched_objects_cache", {})


def accepted_in_all_languages(question: Question) -> list[str]:
    """Every accepted short answer: the question's own and each translation's."""
    texts = [answer.text for answer in question.accepted_answers.all()]
    for qt in question.translations.all():  # prefetched by quiz_active_questions
        texts.extend(str(text) for text in qt.accepted)
    return texts
