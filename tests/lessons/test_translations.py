"""The course in Simplified Chinese: twins checked against the English lessons, loaded and
exported both ways, shown in the request's language with an English fallback, one progress
record whatever the language, and Chinese short answers graded as Chinese is written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from accounts.models import LearnerSettings
from lessons.course_files import parse_lesson_file
from lessons.course_files.twins import twin_problems
from lessons.grading import grade_short_text, normalise_answer
from lessons.loader import course_export, course_load
from lessons.models import (
    Attempt,
    Lesson,
    LessonRead,
    LessonTranslation,
    Question,
    QuestionTranslation,
)
from lessons.translations import localize_lessons
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CONTENT = Path(settings.BASE_DIR) / "lessons" / "content"
ZH = CONTENT / "zh-hans"
HTML_ACCEPT = {"HTTP_ACCEPT": "text/html,application/xhtml+xml"}


def english_files() -> list[Path]:
    return sorted(CONTENT.glob("[0-9]*.md"))


@pytest.fixture
def course():
    report = course_load(directory=CONTENT)
    assert report.errors == [], report.errors
    return report


# --- The twins on disk ---------------------------------------------------------------------


@pytest.mark.parametrize("english", english_files(), ids=lambda p: p.stem)
def test_every_lesson_has_a_chinese_twin_that_matches_it(english):
    twin = ZH / english.name
    assert twin.exists(), f"no Chinese twin of {english.name}"
    problems = twin_problems(
        parse_lesson_file(english).data, parse_lesson_file(twin).data, "zh-hans"
    )
    assert problems == []


def test_lessons_of_one_section_share_one_chinese_section_name():
    names: dict[str, set[str]] = {}
    for english in english_files():
        section = parse_lesson_file(english).data["section"]
        names.setdefault(section, set()).add(parse_lesson_file(ZH / english.name).data["section"])
    assert {section: len(chinese) for section, chinese in names.items()} == {
        section: 1 for section in names
    }, names


def test_the_twin_check_names_what_a_translation_changed(tmp_path):
    english = parse_lesson_file(CONTENT / "03-bert.md").data
    text = (ZH / "03-bert.md").read_text(encoding="utf-8")
    text = text.replace("key: mlm-share", "key: mlm-share-zh", 1)
    text = text.replace(
        'text: "The capital of France is [MASK]."', 'text: "法国的首都是 [MASK]。"', 1
    )
    text = text.replace(
        "/static/diagrams/zh-hans/bert-input.svg", "/static/diagrams/bert-input.svg"
    )
    (tmp_path / "zh-hans").mkdir()
    changed = tmp_path / "zh-hans" / "03-bert.md"
    changed.write_text(text, encoding="utf-8")

    problems = twin_problems(english, parse_lesson_file(changed).data, "zh-hans")

    joined = "\n".join(problems)
    assert "question keys" in joined
    assert "`fill-mask` demo block's input differs" in joined
    assert "diagrams are" in joined


def test_an_untranslated_copy_is_not_a_twin():
    english = parse_lesson_file(CONTENT / "04-gpt.md").data
    problems = twin_problems(english, english, "zh-hans")
    assert "`title` is not translated" in problems
    assert "the body is not translated" in problems


# --- Loading, exporting, editing -----------------------------------------------------------


def test_load_course_loads_both_languages_and_a_second_load_changes_nothing(course):
    lessons = Lesson.objects.count()
    assert LessonTranslation.objects.filter(language="zh-hans").count() == lessons == 8
    active = Question.objects.filter(is_active=True).count()
    assert QuestionTranslation.objects.count() == active
    assert all("[zh-hans]" not in slug for slug in course.created[:lessons])
    again = course_load(directory=CONTENT)
    assert again.created == again.updated == [] and len(again.unchanged) == 2 * lessons


def test_a_translation_is_stored_without_touching_identity(course):
    tr = LessonTranslation.objects.select_related("lesson").get(
        lesson__slug="bert", language="zh-hans"
    )
    assert tr.lesson.title == "BERT: a bidirectional encoder"
    assert re.search(r"[\u4e00-\u9fff]", tr.title) and re.search(r"[\u4e00-\u9fff]", tr.body_html)
    assert "/static/diagrams/zh-hans/bert-input.svg" in tr.body_html
    # Chinese headings keep their characters in their anchors and the table of contents
    assert re.search(r'href="#[^"]*[\u4e00-\u9fff]', tr.toc_html)
    assert re.search(r'<h2 id="[^"]*[\u4e00-\u9fff]', tr.body_html)


def test_export_writes_both_languages_and_loading_the_export_is_a_no_op(course, tmp_path):
    written = course_export(directory=tmp_path)
    assert len([p for p in written if p.parent.name == "zh-hans"]) == 8
    report = course_load(directory=tmp_path)
    assert report.errors == [] and report.created == report.updated == []
    assert len(report.unchanged) == 16


def test_a_translation_edited_in_the_admin_is_kept_unless_forced(course, tmp_path):
    tr = LessonTranslation.objects.get(lesson__slug="gpt", language="zh-hans")
    tr.title = "GPT（工作人员改过的标题）"
    tr.save()
    shutil.copytree(CONTENT, tmp_path / "content")
    target = tmp_path / "content" / "zh-hans" / "04-gpt.md"
    body = target.read_text(encoding="utf-8")
    target.write_text(body.replace("\n## ", "\n## （新）", 1), encoding="utf-8")
    report = course_load(directory=tmp_path / "content")
    assert "04-gpt [zh-hans]" in report.skipped_edited
    tr.refresh_from_db()
    assert tr.title == "GPT（工作人员改过的标题）"

    forced = course_load(directory=tmp_path / "content", force=True)
    assert "04-gpt [zh-hans]" in forced.updated
    tr.refresh_from_db()
    assert tr.title != "GPT（工作人员改过的标题）"
    assert tr.history.count() >= 3  # loaded, edited, loaded again: revertible in the admin


def test_a_twin_without_its_english_lesson_is_reported(tmp_path):
    (tmp_path / "zh-hans").mkdir()
    shutil.copy(ZH / "03-bert.md", tmp_path / "zh-hans" / "03-bert.md")
    shutil.copy(CONTENT / "04-gpt.md", tmp_path / "04-gpt.md")
    report = course_load(directory=tmp_path)
    assert any("no English lesson with slug 'bert'" in error for error in report.errors)
    assert not LessonTranslation.objects.exists()


# --- Reading in the request's language -------------------------------------------------------


def test_a_localized_lesson_refuses_to_be_saved(course):
    lesson = Lesson.objects.get(slug="bert")
    localize_lessons([lesson], "zh-hans")
    with pytest.raises(RuntimeError, match="zh-hans text"):
        lesson.save()
    assert Lesson.objects.get(slug="bert").title == "BERT: a bidirectional encoder"


def test_the_chinese_page_says_its_language_and_shows_the_translation(client, course):
    zh = client.get("/zh-hans/lessons/bert/")
    en = client.get("/lessons/bert/")
    zh_html, en_html = zh.content.decode(), en.content.decode()
    title = LessonTranslation.objects.get(lesson__slug="bert", language="zh-hans").title
    assert '<html lang="zh-Hans">' in zh_html and title in zh_html
    assert '<html lang="en">' in en_html and "BERT: a bidirectional encoder" in en_html
    assert title not in en_html
    # links inside the Chinese page stay in Chinese; the demos are the same panels
    assert 'href="/zh-hans/lessons/gpt/"' in zh_html
    assert 'href="/zh-hans/demos/training/"' in zh_html and 'href="/demos/training/"' in en_html
    assert zh_html.count('data-demo-kind="') == en_html.count('data-demo-kind="') == 4


def test_a_lesson_missing_in_chinese_is_shown_in_english_with_a_notice(client, course):
    LessonTranslation.objects.filter(lesson__slug="gpt").delete()
    html = client.get("/zh-hans/lessons/gpt/").content.decode()
    assert "translation-notice" in html
    assert Lesson.objects.get(slug="gpt").title in html
    assert "translation-notice" not in client.get("/zh-hans/lessons/bert/").content.decode()


def test_the_home_page_groups_chinese_sections(client, course):
    html = client.get("/zh-hans/").content.decode()
    for tr in LessonTranslation.objects.all():
        assert tr.title in html
        assert tr.section in html


# --- One learner, two languages ----------------------------------------------------------------


def test_answers_in_chinese_and_english_are_one_attempt_and_one_progress_record(client, course):
    question = Question.objects.get(quiz__lesson__slug="bert", key="mlm-share")
    right = question.choices.get(is_correct=True)

    zh_page = client.get("/zh-hans/lessons/bert/quiz/")
    assert QuestionTranslation.objects.get(question=question).prompt in zh_page.content.decode()
    seed = zh_page.context["attempt"].shuffle_seed
    with translation.override("en"):
        check = reverse("lessons:quiz-start-check", args=["bert", question.pk])
    with translation.override("zh-hans"):
        zh_check = reverse("lessons:quiz-start-check", args=["bert", question.pk])
    assert zh_check == "/zh-hans" + check
    client.post(zh_check, {f"q-{question.pk}": str(right.pk), "seed": seed})
    client.post("/zh-hans/lessons/bert/read/")

    en_page = client.get("/lessons/bert/quiz/").content.decode()
    assert question.prompt in en_page
    attempt = Attempt.objects.get()
    assert attempt.answers.get().question == question
    assert LessonRead.objects.count() == 1
    progress = client.get("/progress/").content.decode()
    assert "BERT: a bidirectional encoder" in progress


# --- Grading Chinese answers -----------------------------------------------------------------


def test_chinese_answers_normalise_without_word_spaces_or_full_width_forms():
    assert normalise_answer("ＣＬＳ 词元。") == normalise_answer("cls词元") == "cls词元"
    assert normalise_answer(" 自监督 学习！") == "自监督学习"
    assert normalise_answer("the CLS token") == "the cls token"  # English keeps its spaces


def test_short_text_accepts_the_chinese_forms_of_the_answer(course):
    question = Question.objects.get(quiz__lesson__slug="pretraining", key="objective-name")
    accepted = QuestionTranslation.objects.get(question=question).accepted
    assert "自监督" in accepted
    from lessons.translations import accepted_in_all_languages

    everything = accepted_in_all_languages(question)
    assert grade_short_text("自监督 学习。", everything).is_correct
    assert grade_short_text("self-supervised", everything).is_correct
    assert not grade_short_text("有监督学习", everything).is_correct


# --- Choosing a language ---------------------------------------------------------------------


def test_the_switcher_shows_the_same_page_in_the_other_language_and_remembers_it(client, course):
    response = client.post("/language/", {"language": "zh-hans", "next": "/lessons/gpt/"})
    assert response.status_code == 302 and response["Location"] == "/zh-hans/lessons/gpt/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # an unprefixed page opened later goes to the remembered language
    opened = client.get("/lessons/bert/", **HTML_ACCEPT)
    assert opened.status_code == 302 and opened["Location"] == "/zh-hans/lessons/bert/"
    # htmx and non-page requests are answered as asked
    assert client.get("/lessons/bert/", HTTP_HX_REQUEST="true", **HTML_ACCEPT).status_code == 200
    back = client.post("/language/", {"language": "en", "next": "/zh-hans/lessons/gpt/"})
    assert back["Location"] == "/lessons/gpt/"
    assert client.get("/lessons/bert/", **HTML_ACCEPT).status_code == 200


def test_bad_switcher_input_changes_nothing(client, course):
    response = client.post("/language/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert settings.LANGUAGE_COOKIE_NAME not in client.cookies
    assert client.get("/language/").status_code == 405


def test_a_signed_in_learner_finds_their_language_on_another_device(client, course):
    user = UserFactory()
    client.force_login(user)
    client.post("/language/", {"language": "zh-hans", "next": "/"})
    assert LearnerSettings.objects.get(user=user).language == "zh-hans"

    from django.test import Client

    other = Client()
    other.post(reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD})
    opened = other.get("/", **HTML_ACCEPT)
    assert opened.status_code == 302 and opened["Location"] == "/zh-hans/"


# --- The interview-preparation page ----------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/zh-hans"])
def test_the_interview_page_links_each_point_to_a_real_section_of_a_lesson(client, course, prefix):
    html = client.get(f"{prefix}/interview/").content.decode()
    links = re.findall(r'href="(/[^"#]*/lessons/[^"#]+/|/lessons/[^"#]+/)#([^"]+)"', html)
    assert len(links) >= 10
    for path, anchor in links:
        assert path.startswith(f"{prefix}/lessons/"), path
        target = client.get(path).content.decode()
        assert f'id="{anchor}"' in target, f"{path}#{anchor}"


def test_the_interview_page_is_in_the_language_of_the_address(client, course):
    zh = client.get("/zh-hans/interview/").content.decode()
    en = client.get("/interview/").content.decode()
    assert re.search(r"<h1[^>]*>[^<]*[\u4e00-\u9fff]", zh)
    assert not re.search(r"<h1[^>]*>[^<]*[\u4e00-\u9fff]", en)


# --- Free text written in Chinese goes to a teacher --------------------------------------------


def test_written_in_chinese_counts_characters_against_latin_letters():
    from lessons.free_text import written_in_chinese

    assert written_in_chinese("BERT 用掩码语言模型预测被遮住的词")
    assert written_in_chinese("标签来自文本本身，不需要人工标注。")
    assert not written_in_chinese("The labels come from the text itself (自监督).")
    assert not written_in_chinese("no Chinese here at all")


def test_a_chinese_explanation_waits_for_a_teacher_and_is_never_sent_to_the_encoder(
    course, monkeypatch, django_capture_on_commit_callbacks
):
    from inference import facade
    from lessons.free_text_reads import review_queue
    from lessons.services import (
        AnswerInput,
        question_check,
        quiz_attempt_open,
        quiz_attempt_submit,
    )

    sent = []
    monkeypatch.setattr(facade, "send_grading", lambda **kwargs: sent.append(kwargs))
    question = Question.objects.get(quiz__lesson__slug="pretraining", kind="free_text")
    user = UserFactory()
    attempt = quiz_attempt_open(quiz=question.quiz, user=user)
    with django_capture_on_commit_callbacks(execute=True):
        answer = question_check(
            attempt=attempt,
            question=question,
            answer=AnswerInput(
                text="标签直接来自文本本身，比如遮住一个词再让模型猜，所以不需要人工标注。"
            ),
        )

    assert sent == []
    answer.refresh_from_db()
    assert answer.grading_status == "graded" and answer.auto_score is None
    assert answer.grading_details["reason"] == "language"
    assert answer.score == 0.0
    with django_capture_on_commit_callbacks(execute=True):
        quiz_attempt_submit(attempt=attempt)
    attempt.refresh_from_db()
    assert attempt.grading_pending  # provisional until the teacher grades it
    assert list(review_queue())[0] == answer  # first in the staff's queue
    assert sent == []
    # an English answer to the same question is sent to the grader
    other = quiz_attempt_open(quiz=question.quiz, user=UserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        question_check(
            attempt=other,
            question=question,
            answer=AnswerInput(text="The labels come from the text itself, so nobody annotates."),
        )
    assert len(sent) == 1


def test_the_learner_is_told_a_teacher_will_grade_a_chinese_explanation(client, course):
    question = Question.objects.get(quiz__lesson__slug="pretraining", kind="free_text")
    page = client.get("/zh-hans/lessons/pretraining/quiz/")
    seed = page.context["attempt"].shuffle_seed
    with translation.override("zh-hans"):
        check = reverse("lessons:quiz-start-check", args=["pretraining", question.pk])
    client.post(check, {f"q-{question.pk}": "标签来自文本本身，不需要人工标注。", "seed": seed})
    html = client.get("/zh-hans/lessons/pretraining/quiz/").content.decode()
    with translation.override("zh-hans"):
        told = translation.gettext(
            "A teacher will grade this answer. The automatic grader reads English only, so "
            "answers written in Chinese are graded by a teacher; until then it counts as 0 and "
            "your score is provisional."
        )
    assert told != "" and told in html


# --- Editing a translation in the admin -------------------------------------------------------


def test_staff_edit_a_translation_in_the_admin_and_can_revert_it(client, course):
    from tests.factories import StaffUserFactory

    admin = StaffUserFactory(is_superuser=True)
    client.force_login(admin)
    tr = LessonTranslation.objects.get(lesson__slug="gpt", language="zh-hans")
    url = reverse("admin:lessons_lessontranslation_change", args=[tr.pk])
    page = client.get(url)
    assert page.status_code == 200 and tr.title in page.content.decode()
    old_title = tr.title
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data["title"] = "GPT：生成式解码器（修订）"
    data["body_markdown"] = tr.body_markdown.replace("\n## ", "\n## （修订）", 1)
    inline = page.context["inline_admin_formsets"][0].formset
    data.update(
        {
            f"{inline.prefix}-TOTAL_FORMS": str(inline.total_form_count()),
            f"{inline.prefix}-INITIAL_FORMS": str(inline.initial_form_count()),
            f"{inline.prefix}-MIN_NUM_FORMS": "0",
            f"{inline.prefix}-MAX_NUM_FORMS": "1000",
        }
    )
    for index, sub in enumerate(inline.forms):
        for name in sub.fields:
            value = sub[name].value()
            if name in ("choices", "accepted", "references", "concept_labels"):
                value = json.dumps(value if not isinstance(value, str) else json.loads(value))
            data[f"{inline.prefix}-{index}-{name}"] = "" if value is None else value
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    tr.refresh_from_db()
    assert tr.title == "GPT：生成式解码器（修订）" and "（修订）" in tr.body_html
    assert 'href="/zh-hans/demos/training/"' in tr.body_html  # re-rendered on save
    html = client.get("/zh-hans/lessons/gpt/").content.decode()
    assert "GPT：生成式解码器（修订）" in html

    history = tr.history.order_by("history_date")
    assert history.count() >= 2
    first = history.first()
    history_page = client.get(reverse("admin:lessons_lessontranslation_history", args=[tr.pk]))
    assert history_page.status_code == 200
    revert = reverse(
        "admin:lessons_lessontranslation_simple_history", args=[tr.pk, first.history_id]
    )
    assert client.get(revert).status_code == 200
    assert first.title == old_title


def test_every_chinese_diagram_the_twins_use_exists():
    from django.contrib.staticfiles import finders

    used = {
        src.removeprefix("/static/")
        for path in ZH.glob("*.md")
        for src in re.findall(r"\]\((/static/diagrams/zh-hans/[^)\s]+)", path.read_text("utf-8"))
    }
    assert len(used) == 8
    assert [src for src in sorted(used) if finders.find(src) is None] == []
