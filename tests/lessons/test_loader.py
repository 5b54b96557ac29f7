from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from inference.contract.demo_cards import iter_demo_slots
from lessons import loader
from lessons.course_files import parse_lesson_file
from lessons.loader import (
    CourseDirectoryError,
    course_export,
    course_load,
    lesson_canonical,
    lesson_is_edited,
    lesson_queryset_for_canonical,
)
from lessons.models import AcceptedAnswer, Answer, Attempt, Choice, Course, Lesson, Question, Quiz

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "course"
REAL_CONTENT = Path(settings.BASE_DIR) / "lessons" / "content"


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "course"
    shutil.copytree(FIXTURES, directory)
    return directory


def edit_file(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def answer_question(question: Question, *choices: Choice) -> Answer:
    attempt = Attempt.objects.create(quiz=question.quiz, anon_id="learner-1", shuffle_seed=1)
    answer = Answer.objects.create(attempt=attempt, question=question, score=1, is_correct=True)
    answer.selected_choices.set(choices)
    return answer


def history_count() -> int:
    return sum(model.history.count() for model in (Lesson, Quiz, Question, Choice, AcceptedAnswer))


# --- First load -----------------------------------------------------------------------------------


def test_first_load_creates_lessons_quizzes_questions_and_rendered_html(course_dir):
    report = course_load(directory=course_dir)

    assert report.created == ["intro", "gpt", "glossary"]
    assert report.errors == []
    assert report.warnings == []
    course = Course.objects.get()
    assert (course.slug, course.title) == ("bert-vs-gpt", "BERT vs GPT, hands on")

    intro = Lesson.objects.get(slug="intro")
    assert (intro.section, intro.order, intro.duration_minutes) == ("Foundations", 1, 8)
    assert intro.loaded_hash and len(intro.loaded_hash) == 64
    assert '<h2 id="task-specific-models">' in intro.body_html
    assert '<span class="kn">from</span>' in intro.body_html
    assert 'href="#a-worked-example"' in intro.toc_html
    assert [s.kind for s in iter_demo_slots(intro.body_html)] == ["fill-mask"]

    quiz = intro.quiz
    assert (quiz.pass_mark, quiz.attempts_allowed, quiz.score_policy) == (60, 3, "best")
    questions = list(quiz.questions.order_by("order"))
    assert [q.key for q in questions] == ["objective", "special-tokens", "gpt-causal", "mask-share"]
    assert [q.order for q in questions] == [0, 1, 2, 3]
    assert questions[1].partial_credit is True
    true_false = questions[2]
    assert [(c.text, c.is_correct, c.order) for c in true_false.choices.all()] == [
        ("True", True, 0),
        ("False", False, 1),
    ]
    assert true_false.choices.get(text="False").feedback == "Look again at the causal mask."
    assert list(questions[3].accepted_answers.values_list("text", flat=True)) == [
        "15%",
        "15",
        "fifteen percent",
    ]
    assert not hasattr(Lesson.objects.get(slug="glossary"), "quiz")
    assert Lesson.objects.get(slug="gpt").quiz.reveal_answers is False


def test_second_load_is_unchanged_and_writes_no_history(course_dir):
    course_load(directory=course_dir)
    before = history_count()

    report = course_load(directory=course_dir)

    assert report.unchanged == ["intro", "gpt", "glossary"]
    assert report.created == report.updated == report.skipped_edited == report.errors == []
    assert history_count() == before


def test_loader_records_history_with_a_change_reason(course_dir):
    course_load(directory=course_dir)

    record = Lesson.history.filter(slug="intro").latest("history_date")
    assert record.history_change_reason == "load_course"


# --- Updates from changed files -------------------------------------------------------------------


def test_changed_file_updates_the_lesson_and_keeps_question_ids(course_dir):
    course_load(directory=course_dir)
    question_id = Question.objects.get(key="objective").pk
    edit_file(course_dir / "01-intro.md", "Before 2018 every task", "Until 2018 each task")
    edit_file(course_dir / "01-intro.md", "pass_mark: 60", "pass_mark: 80")

    report = course_load(directory=course_dir)

    assert report.updated == ["intro"]
    assert report.unchanged == ["gpt", "glossary"]
    lesson = Lesson.objects.get(slug="intro")
    assert "Until 2018 each task" in lesson.body_html
    assert lesson.quiz.pass_mark == 80
    assert Question.objects.get(key="objective").pk == question_id
    assert not lesson_is_edited(lesson)
    assert course_load(directory=course_dir).unchanged == ["intro", "gpt", "glossary"]


def test_removed_question_is_deleted_when_unanswered_and_deactivated_when_answered(course_dir):
    course_load(directory=course_dir)
    answered = Question.objects.get(key="special-tokens")
    answer_question(answered, answered.choices.first())
    path = course_dir / "01-intro.md"
    text = path.read_text(encoding="utf-8")
    start = text.index("    - key: special-tokens")
    end = text.index("    - key: mask-share")
    path.write_text(text[:start] + text[end:], encoding="utf-8")

    report = course_load(directory=course_dir)

    assert report.updated == ["intro"]
    assert not Question.objects.filter(key="gpt-causal").exists()
    answered.refresh_from_db()
    assert answered.is_active is False
    assert Answer.objects.filter(question=answered).count() == 1
    # the inactive question is not part of the lesson's canonical state any more
    assert course_load(directory=course_dir).unchanged == ["intro", "gpt", "glossary"]


def test_question_back_in_the_file_is_reactivated(course_dir):
    course_load(directory=course_dir)
    question = Question.objects.get(key="special-tokens")
    answer_question(question, question.choices.first())
    original = (course_dir / "01-intro.md").read_text(encoding="utf-8")
    start = original.index("    - key: special-tokens")
    end = original.index("    - key: gpt-causal")
    (course_dir / "01-intro.md").write_text(original[:start] + original[end:], encoding="utf-8")
    course_load(directory=course_dir)
    (course_dir / "01-intro.md").write_text(original, encoding="utf-8")

    report = course_load(directory=course_dir)

    assert report.updated == ["intro"]
    question.refresh_from_db()
    assert question.is_active is True
    assert question.order == 1


def test_choices_of_an_unanswered_question_are_replaced(course_dir):
    course_load(directory=course_dir)
    old_ids = set(Question.objects.get(key="objective").choices.values_list("pk", flat=True))
    edit_file(course_dir / "01-intro.md", '- text: "Translation"', '- text: "Summarisation"')

    course_load(directory=course_dir)

    question = Question.objects.get(key="objective")
    assert [c.text for c in question.choices.all()] == [
        "Masked language modelling",
        "Next-token prediction",
        "Summarisation",
    ]
    assert not old_ids & set(question.choices.values_list("pk", flat=True))


def test_choices_of_an_answered_question_are_updated_in_place(course_dir):
    course_load(directory=course_dir)
    question = Question.objects.get(key="objective")
    picked = question.choices.get(text="Translation")
    answer = answer_question(question, picked)
    ids = list(question.choices.values_list("pk", flat=True))
    edit_file(course_dir / "01-intro.md", '- text: "Translation"', '- text: "Summarisation"')

    report = course_load(directory=course_dir)

    assert report.updated == ["intro"]
    assert list(question.choices.values_list("pk", flat=True)) == ids
    picked.refresh_from_db()
    assert picked.text == "Summarisation"
    assert list(answer.selected_choices.all()) == [picked]


def test_removing_a_choice_learners_picked_is_refused_and_nothing_changes(course_dir):
    course_load(directory=course_dir)
    question = Question.objects.get(key="objective")
    answer_question(question, question.choices.get(text="Translation"))
    edit_file(course_dir / "01-intro.md", '        - text: "Translation"\n', "")
    edit_file(course_dir / "01-intro.md", "pass_mark: 60", "pass_mark: 90")

    report = course_load(directory=course_dir)

    assert len(report.errors) == 1
    assert report.errors[0].startswith("01-intro.md: question objective: choice 'Translation'")
    assert Quiz.objects.get(lesson__slug="intro").pass_mark == 60  # rolled back
    assert question.choices.count() == 3
    assert report.unchanged == ["gpt", "glossary"]


# --- Edit protection ------------------------------------------------------------------------------


def test_lesson_edited_in_the_database_is_reported_and_skipped(course_dir):
    course_load(directory=course_dir)
    lesson = Lesson.objects.get(slug="intro")
    lesson.title = "Edited by staff"
    lesson.save()
    edit_file(course_dir / "01-intro.md", "Before 2018", "Before the year 2018")

    report = course_load(directory=course_dir)

    assert report.skipped_edited == ["intro"]
    assert Lesson.objects.get(slug="intro").title == "Edited by staff"
    assert "Before the year 2018" not in Lesson.objects.get(slug="intro").body_markdown


@pytest.mark.parametrize("what", ["question", "choice", "accepted", "quiz"])
def test_quiz_edits_count_as_edits_too(course_dir, what):
    course_load(directory=course_dir)
    question = Question.objects.get(key="mask-share")
    if what == "question":
        Question.objects.filter(pk=question.pk).update(prompt="Reworded?")
    elif what == "choice":
        Choice.objects.filter(question__key="objective", order=2).update(feedback="Nope.")
    elif what == "accepted":
        AcceptedAnswer.objects.create(question=question, text="15 percent")
    else:
        Quiz.objects.filter(lesson__slug="intro").update(reveal_answers=False)

    assert lesson_is_edited(Lesson.objects.get(slug="intro"))
    assert course_load(directory=course_dir).skipped_edited == ["intro"]


def test_force_overwrites_edited_lessons(course_dir):
    course_load(directory=course_dir)
    Lesson.objects.filter(slug="intro").update(title="Edited by staff")
    Question.objects.filter(key="objective").update(prompt="Edited prompt")

    report = course_load(directory=course_dir, force=True)

    assert report.updated == ["intro"]
    assert report.skipped_edited == []
    lesson = Lesson.objects.get(slug="intro")
    assert lesson.title == "Why pre-training changed NLP"
    assert (
        Question.objects.get(key="objective").prompt == "Which objective does BERT pre-train with?"
    )
    assert not lesson_is_edited(lesson)


def test_edit_matching_the_file_again_counts_as_unchanged(course_dir):
    course_load(directory=course_dir)
    Lesson.objects.filter(slug="intro").update(title="Edited by staff")
    Lesson.objects.filter(slug="intro").update(title="Why pre-training changed NLP")

    assert course_load(directory=course_dir).unchanged == ["intro", "gpt", "glossary"]


def test_lesson_created_in_the_admin_is_not_overwritten_without_force(course_dir):
    course = Course.objects.create(slug="bert-vs-gpt", title="BERT vs GPT, hands on")
    Lesson.objects.create(
        course=course, slug="gpt", title="Staff draft", section="Drafts", body_markdown="x"
    )

    report = course_load(directory=course_dir)

    assert report.skipped_edited == ["gpt"]
    assert Lesson.objects.get(slug="gpt").title == "Staff draft"
    assert course_load(directory=course_dir, force=True).updated == ["gpt"]


# --- Broken files ---------------------------------------------------------------------------------


def test_broken_file_is_reported_and_the_others_still_load(course_dir):
    (course_dir / "04-broken.md").write_text(
        "---\nslug: broken\ntitle: Broken\nsection: X\norder: 4\nduration: 5\n"
        "quiz:\n  title: Q\n  questions:\n    - key: q\n      kind: single\n"
        "      prompt: P\n      explanation: E\n      choices:\n"
        "        - {text: a, correct: true}\n        - {text: b, correct: true}\n"
        "---\nBody\n",
        encoding="utf-8",
    )

    report = course_load(directory=course_dir)

    assert report.created == ["intro", "gpt", "glossary"]
    assert report.errors == [
        "04-broken.md: quiz question 1 (q): a single-choice question needs exactly one "
        "correct choice"
    ]
    assert not Lesson.objects.filter(slug="broken").exists()


def test_failure_while_saving_leaves_nothing_half_saved(course_dir, monkeypatch):
    real = loader._save_accepted

    def explode(question, wanted):
        if question.key == "mask-share":
            raise loader.CourseFileError("01-intro.md", "simulated failure")
        real(question, wanted)

    monkeypatch.setattr(loader, "_save_accepted", explode)

    report = course_load(directory=course_dir)

    assert report.errors == ["01-intro.md: simulated failure"]
    assert report.created == ["gpt", "glossary"]
    assert not Lesson.objects.filter(slug="intro").exists()
    assert not Question.objects.filter(key="objective").exists()
    assert not Quiz.objects.filter(title="Check yourself: pre-training").exists()


def test_database_integrity_error_is_reported_per_file(course_dir, monkeypatch):
    from django.db import IntegrityError

    real = loader._save_quiz

    def collide(lesson, data, where):
        if lesson.slug == "gpt":
            raise IntegrityError("UNIQUE constraint failed: lessons_lesson.slug")
        real(lesson, data, where)

    monkeypatch.setattr(loader, "_save_quiz", collide)

    report = course_load(directory=course_dir)

    assert report.created == ["intro", "glossary"]
    assert report.errors[0].startswith("02-gpt.md: the database refused the change")
    assert not Lesson.objects.filter(slug="gpt").exists()


def test_duplicate_slugs_across_files_load_neither(course_dir):
    shutil.copy(course_dir / "02-gpt.md", course_dir / "05-gpt-copy.md")

    report = course_load(directory=course_dir)

    assert report.errors == [
        "duplicate slug 'gpt' in 02-gpt.md, 05-gpt-copy.md: none of them was loaded"
    ]
    assert not Lesson.objects.filter(slug="gpt").exists()
    assert report.created == ["intro", "glossary"]
    assert any("order 2 is used by more than one file" in w for w in report.warnings)


def test_broken_demo_block_is_a_warning_not_an_error(course_dir):
    edit_file(course_dir / "02-gpt.md", "```demo generate", "```demo write-poem")

    report = course_load(directory=course_dir)

    assert "gpt" in report.created
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("02-gpt.md: demo block at line")
    assert "unknown demo kind 'write-poem'" in report.warnings[0]
    assert "Demo block error" in Lesson.objects.get(slug="gpt").body_html


def test_missing_directory_raises():
    with pytest.raises(CourseDirectoryError, match="course directory not found"):
        course_load(directory="/nonexistent/course")


def test_dropping_a_quiz_with_attempts_is_refused(course_dir):
    course_load(directory=course_dir)
    Attempt.objects.create(quiz=Quiz.objects.get(lesson__slug="gpt"), anon_id="a", shuffle_seed=1)
    path = course_dir / "02-gpt.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text[: text.index("quiz:")] + text[text.index("---\n## Causal") :], encoding="utf-8"
    )

    report = course_load(directory=course_dir)

    assert "02-gpt.md: the file has no quiz" in report.errors[0]
    assert Quiz.objects.filter(lesson__slug="gpt").exists()


# --- Export ---------------------------------------------------------------------------------------


def test_export_then_load_is_a_no_op(course_dir, tmp_path):
    course_load(directory=course_dir)
    before = history_count()

    written = course_export(directory=tmp_path / "export")
    report = course_load(directory=tmp_path / "export")

    assert [p.name for p in written] == ["01-intro.md", "02-gpt.md", "03-glossary.md"]
    assert report.unchanged == ["intro", "gpt", "glossary"]
    assert report.errors == report.warnings == []
    assert history_count() == before


def test_export_reproduces_the_files_data(course_dir, tmp_path):
    course_load(directory=course_dir)

    course_export(directory=tmp_path / "export")

    for original in sorted(course_dir.glob("*.md")):
        exported = tmp_path / "export" / original.name
        assert parse_lesson_file(exported).data == parse_lesson_file(original).data


def test_admin_edits_survive_export_and_reload(course_dir, tmp_path):
    course_load(directory=course_dir)
    Question.objects.filter(key="objective").update(prompt="Edited\r\nprompt")
    Lesson.objects.filter(slug="intro").update(body_markdown="## New\r\n\r\nStaff wrote this.")

    course_export(directory=tmp_path / "export")
    report = course_load(directory=tmp_path / "export")

    assert report.unchanged == ["intro", "gpt", "glossary"]
    lesson = lesson_queryset_for_canonical().get(slug="intro")
    assert not lesson_is_edited(lesson)
    assert lesson_canonical(lesson)["body"] == "## New\n\nStaff wrote this.\n"


def test_export_skips_inactive_questions(course_dir, tmp_path):
    course_load(directory=course_dir)
    Question.objects.filter(key="objective").update(is_active=False)

    course_export(directory=tmp_path / "export")

    data = parse_lesson_file(tmp_path / "export" / "01-intro.md").data
    assert [q["key"] for q in data["quiz"]["questions"]] == [
        "special-tokens",
        "gpt-causal",
        "mask-share",
    ]


# --- Commands -------------------------------------------------------------------------------------


def test_load_course_command_prints_a_readable_report(course_dir):
    out = StringIO()
    call_command("load_course", "--dir", str(course_dir), stdout=out)
    Lesson.objects.filter(slug="gpt").update(title="Edited")
    call_command("load_course", "--dir", str(course_dir), stdout=out)

    text = out.getvalue()
    assert "Created (3): intro, gpt, glossary" in text
    assert "Unchanged (2): intro, glossary" in text
    assert (
        "Skipped: gpt was edited in the admin since the last load (use --force to overwrite)"
        in (text)
    )


def test_load_course_command_exits_non_zero_when_a_file_fails(course_dir):
    (course_dir / "09-bad.md").write_text("no front matter\n", encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError, match="1 file\\(s\\) could not be loaded"):
        call_command("load_course", "--dir", str(course_dir), stdout=StringIO(), stderr=err)

    assert "09-bad.md: no YAML front matter" in err.getvalue()
    assert Lesson.objects.count() == 3


def test_load_course_command_force_and_missing_dir(course_dir):
    call_command("load_course", "--dir", str(course_dir), stdout=StringIO())
    Lesson.objects.filter(slug="gpt").update(title="Edited")
    out = StringIO()

    call_command("load_course", "--dir", str(course_dir), "--force", stdout=out)

    assert "Updated (1): gpt" in out.getvalue()
    with pytest.raises(CommandError, match="course directory not found"):
        call_command("load_course", "--dir", "/nonexistent", stdout=StringIO())


def test_export_course_command_writes_files(course_dir, tmp_path):
    course_load(directory=course_dir)
    out = StringIO()

    call_command("export_course", "--dir", str(tmp_path / "out"), stdout=out)

    assert "Exported 3 lesson(s)" in out.getvalue()
    assert sorted(p.name for p in (tmp_path / "out").glob("*.md")) == [
        "01-intro.md",
        "02-gpt.md",
        "03-glossary.md",
    ]


def test_render_lessons_command_rerenders_stored_html(course_dir):
    course_load(directory=course_dir)
    Lesson.objects.update(body_html="stale", toc_html="")

    call_command("render_lessons", stdout=StringIO())

    assert "task-specific-models" in Lesson.objects.get(slug="intro").body_html


# --- The real course ------------------------------------------------------------------------------


def test_the_real_course_loads_cleanly():
    """The course in lessons/content/: at least 7 lessons, each with a 5+ question quiz."""
    report = course_load(directory=REAL_CONTENT)

    assert report.errors == []
    assert report.warnings == []
    assert len(report.created) >= 7
    for lesson in Lesson.objects.all():
        assert lesson.quiz.questions.filter(is_active=True).count() >= 5, lesson.slug
        assert lesson.body_html and lesson.toc_html, lesson.slug
    assert course_load(directory=REAL_CONTENT).unchanged == report.created


def test_the_real_course_images_exist():
    """Every /static/... image the course references is a real static file."""
    import re

    from django.contrib.staticfiles import finders

    missing, checked = [], 0
    for path in sorted(REAL_CONTENT.glob("*.md")):
        for src in re.findall(r"!\[[^\]]*\]\((/static/[^)\s]+)", path.read_text(encoding="utf-8")):
            checked += 1
            if finders.find(src.removeprefix("/static/")) is None:
                missing.append(f"{path.name}: {src}")

    assert checked >= 4  # the course has at least four diagrams
    assert missing == []
