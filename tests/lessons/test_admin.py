from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from lessons.models import Answer, Attempt, Lesson, Question
from lessons.services import lesson_render
from tests.factories import (
    CourseFactory,
    LessonFactory,
    StaffUserFactory,
    UserFactory,
    quiz_with_questions,
    single_choice_question,
)

pytestmark = pytest.mark.django_db


# --- A small HTML tree, to look at pages by element -----------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs, self.children = tag, attrs, []

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def words(self) -> str:
        return " ".join(self.text().split())

    def descendants(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.descendants()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            node
            for node in self.descendants()
            if (tag is None or node.tag == tag)
            and (cls is None or cls in node.classes)
            and all(node.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node | None:
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def tree(html: bytes | str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html.decode() if isinstance(html, bytes) else html)
    return builder.root


@pytest.fixture
def staff_client(client):
    staff = StaffUserFactory()
    client.force_login(staff)
    client.staff = staff
    return client


def lesson_form(lesson: Lesson, **changes) -> dict:
    data = {
        "course": lesson.course_id,
        "title": lesson.title,
        "slug": lesson.slug,
        "section": lesson.section,
        "order": lesson.order,
        "duration_minutes": lesson.duration_minutes,
        "summary": lesson.summary,
        "body_markdown": lesson.body_markdown,
    }
    data.update(changes)
    return data


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "learner"])
def test_only_staff_reach_the_admin(client, who):
    if who == "learner":
        client.force_login(UserFactory())
    lesson = LessonFactory()

    for url in (
        reverse("admin:index"),
        reverse("admin:lessons_lesson_changelist"),
        reverse("admin:lessons_lesson_change", args=[lesson.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_staff_see_the_lesson_list_with_edited_flag(staff_client, django_assert_max_num_queries):
    LessonFactory(title="Loaded lesson")

    with django_assert_max_num_queries(15):
        response = staff_client.get(reverse("admin:lessons_lesson_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Loaded lesson" in html
    assert "Since last load" in html
    assert "Not from files" in html


def test_edited_flag_tracks_the_loaded_hash(staff_client):
    from lessons.admin import LessonAdmin
    from lessons.course_files import canonical_hash
    from lessons.loader import lesson_canonical, lesson_queryset_for_canonical

    lesson = LessonFactory()
    model_admin = LessonAdmin(Lesson, None)
    fetch = lesson_queryset_for_canonical().get

    assert model_admin.edited_since_load(fetch(pk=lesson.pk)) == "Not from files"
    Lesson.objects.filter(pk=lesson.pk).update(
        loaded_hash=canonical_hash(lesson_canonical(fetch(pk=lesson.pk)))
    )
    assert model_admin.edited_since_load(fetch(pk=lesson.pk)) == "As loaded"
    Lesson.objects.filter(pk=lesson.pk).update(title="Changed")
    assert model_admin.edited_since_load(fetch(pk=lesson.pk)) == "✎ Edited"


# --- Saving re-renders, history, revert -----------------------------------------------------------


def test_saving_in_the_admin_renders_the_markdown(staff_client):
    lesson = LessonFactory()
    url = reverse("admin:lessons_lesson_change", args=[lesson.pk])

    response = staff_client.post(
        url,
        lesson_form(
            lesson, body_markdown="## Fresh heading\n\n<script>alert(1)</script>Safe text\n"
        ),
    )

    assert response.status_code == 302
    lesson.refresh_from_db()
    assert '<h2 id="fresh-heading">' in lesson.body_html
    assert 'href="#fresh-heading"' in lesson.toc_html
    assert "<script" not in lesson.body_html
    assert "Safe text" in lesson.body_html


def test_adding_a_lesson_in_the_admin_renders_it(staff_client):
    course = CourseFactory()
    data = {
        "course": course.pk,
        "title": "New lesson",
        "slug": "new-lesson",
        "section": "Extra",
        "order": 9,
        "duration_minutes": 5,
        "summary": "",
        "body_markdown": "## Hello\n\nWorld\n",
    }

    response = staff_client.post(reverse("admin:lessons_lesson_add"), data)

    assert response.status_code == 302
    assert '<h2 id="hello">' in Lesson.objects.get(slug="new-lesson").body_html


def test_history_records_who_changed_what(staff_client):
    lesson = LessonFactory(title="Before")

    staff_client.post(
        reverse("admin:lessons_lesson_change", args=[lesson.pk]),
        lesson_form(lesson, title="After"),
    )

    latest = lesson.history.latest("history_date")
    assert latest.title == "After"
    assert latest.history_user == staff_client.staff
    delta = latest.diff_against(latest.prev_record)
    assert [change.field for change in delta.changes if change.field == "title"] == ["title"]
    history_page = staff_client.get(reverse("admin:lessons_lesson_history", args=[lesson.pk]))
    assert history_page.status_code == 200
    assert staff_client.staff.username in history_page.content.decode()


def test_reverting_a_version_re_renders_the_html(staff_client):
    lesson = LessonFactory(body_markdown="## Version one\n\nFirst text.\n")
    change_url = reverse("admin:lessons_lesson_change", args=[lesson.pk])
    staff_client.post(change_url, lesson_form(lesson, body_markdown="## Version two\n\nSecond.\n"))
    lesson.refresh_from_db()
    assert "version-two" in lesson.body_html
    first = lesson.history.earliest("history_date")
    # Make the stored HTML of the old version stale, to prove revert renders afresh.
    type(first).objects.filter(pk=first.pk).update(body_html="<p>stale</p>")
    revert_url = reverse("admin:lessons_lesson_simple_history", args=[lesson.pk, first.history_id])

    page = staff_client.get(revert_url)
    response = staff_client.post(revert_url, lesson_form(first.instance))

    assert page.status_code == 200
    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.body_markdown.strip() == "## Version one\n\nFirst text."
    assert '<h2 id="version-one">' in lesson.body_html
    assert "stale" not in lesson.body_html
    assert lesson.history.latest("history_date").history_user == staff_client.staff


# --- The body editor and its live preview ---------------------------------------------------------

DEMO_BODY = (
    "## Masked words\n\n"
    "![Two pipelines](/static/diagrams/pretrain-finetune.svg)\n\n"
    "```demo fill-mask\n"
    'text: "The capital of France is [MASK]."\n'
    "```\n"
)


def preview(client, body: str):
    return client.post(reverse("admin:lessons_lesson_preview"), {"body_markdown": body})


def test_change_page_has_the_tall_editor_posting_to_the_preview(staff_client):
    lesson = LessonFactory()

    response = staff_client.get(reverse("admin:lessons_lesson_change", args=[lesson.pk]))

    editor = tree(response.content).find("textarea", id="id_body_markdown")
    assert int(editor["rows"]) >= 30
    assert "lesson-body-editor" in editor.classes  # monospace, resizable (admin-preview.css)
    assert editor["hx-post"] == reverse("admin:lessons_lesson_preview")
    assert editor["hx-target"] == "#lesson-preview-body"
    assert "delay:500ms" in editor["hx-trigger"]
    html = response.content.decode()
    assert "django_htmx/htmx-2" in html  # htmx, from a static file (the site's CSP)
    assert '"includeIndicatorStyles": false' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_change_page_shows_the_body_as_learners_see_it(staff_client):
    lesson = LessonFactory(
        body_markdown="## Preview me\n\n<img src=x onerror=alert(1)>\n\n" + DEMO_BODY
    )

    html = staff_client.get(
        reverse("admin:lessons_lesson_change", args=[lesson.pk])
    ).content.decode()

    page = tree(html)
    panel = page.find(id="lesson-preview-body")
    assert panel.find("h2", id="preview-me")
    assert not [node for node in panel.descendants() if "onerror" in node.attrs]
    demo = panel.find("div", cls="demo-panel", id="demo-1")  # the learner's live panel
    assert demo.find("form", cls="demo-form")["hx-post"]
    # Outside the change form: a demo panel is a form, and forms don't nest.
    assert page.find("form", id="lesson_form").find(id="lesson-preview-body") is None
    assert "css/pygments.css" in html
    assert "css/demos.css" in html and "js/demo-widgets.js" in html
    assert "Rendered preview" not in html  # the old stored-HTML preview is gone


@pytest.mark.parametrize("who", ["anonymous", "learner"])
def test_preview_sends_anyone_but_staff_to_the_admin_log_in(client, who):
    if who == "learner":
        client.force_login(UserFactory())

    response = preview(client, "## Hello")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_preview_refuses_staff_who_may_not_change_lessons(client):
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_lesson"))
    client.force_login(staff)

    assert preview(client, "## Hello").status_code == 403


def test_preview_is_post_only(staff_client):
    assert staff_client.get(reverse("admin:lessons_lesson_preview")).status_code == 405


def test_preview_renders_markdown_a_diagram_and_a_demo_panel(staff_client):
    response = preview(staff_client, DEMO_BODY + "\n<script>alert(1)</script>\n")

    assert response.status_code == 200
    assert "<script" not in response.content.decode()
    body = tree(response.content).find("div", cls="lesson-body")
    assert "prose" in body.classes
    assert body.find("h2", id="masked-words")
    diagram = body.find("img")
    assert diagram["src"] == "/static/diagrams/pretrain-finetune.svg"
    assert diagram["alt"] == "Two pipelines"
    # The demo block is the panel learners get (inference/widget.html via {% demo_widgets %}),
    # its form filled with the block's defaults and its stored example shown.
    live = body.find("div", cls="demo-slot", **{"data-demo-live": "true"})
    assert live.find(cls="demo-widget-title").words().endswith("Fill in the blank with BERT")
    form = live.find("div", id="demo-1").find("form", cls="demo-form")
    assert form["hx-post"] == reverse("inference:demo-submit", args=["fill-mask"])
    assert "The capital of France is [MASK]." in form.find("textarea").text()
    assert form.find("input", name="csrfmiddlewaretoken")
    assert live.find(id="demo-1-result").find(cls="badge-stored")  # the stored example


def test_preview_shows_rendering_warnings(staff_client):
    response = preview(staff_client, "```demo no-such-kind\n```\n")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Rendering warnings" in html
    assert "unknown demo kind" in html
    assert "Demo block error" in html


def test_preview_saves_nothing(staff_client):
    lesson = LessonFactory(body_markdown="## Stored\n")
    lesson_render(lesson=lesson)
    before = (Lesson.objects.count(), Lesson.history.count())
    fields = ("body_markdown", "body_html", "toc_html", "updated_at")
    stored = Lesson.objects.values(*fields).get(pk=lesson.pk)

    response = preview(staff_client, "## Typed but not saved\n")

    assert response.status_code == 200
    assert "Typed but not saved" in response.content.decode()
    assert (Lesson.objects.count(), Lesson.history.count()) == before
    assert Lesson.objects.values(*fields).get(pk=lesson.pk) == stored


def test_preview_refuses_an_oversized_body_with_a_message(staff_client):
    from lessons.admin.preview import PREVIEW_MAX_CHARS

    response = preview(staff_client, "x" * (PREVIEW_MAX_CHARS + 1))

    assert response.status_code == 413
    text = tree(response.content).words()
    assert "Too long to preview" in text
    assert f"{PREVIEW_MAX_CHARS + 1:,}" in text
    assert "Nothing was saved" in text


def test_preview_of_an_empty_body_says_what_to_do(staff_client):
    response = preview(staff_client, "  \n")

    assert response.status_code == 200
    assert "Type the lesson body" in response.content.decode()


def test_add_page_has_the_editor_and_an_empty_preview(staff_client):
    response = staff_client.get(reverse("admin:lessons_lesson_add"))

    page = tree(response.content)
    assert page.find("textarea", id="id_body_markdown")["hx-post"]
    assert "Type the lesson body" in page.find(id="lesson-preview-body").words()


def test_revert_page_has_the_editor_and_the_preview_of_that_version(staff_client):
    lesson = LessonFactory(body_markdown="## Version one\n")
    staff_client.post(
        reverse("admin:lessons_lesson_change", args=[lesson.pk]),
        lesson_form(lesson, body_markdown="## Version two\n"),
    )
    first = lesson.history.earliest("history_date")

    response = staff_client.get(
        reverse("admin:lessons_lesson_simple_history", args=[lesson.pk, first.history_id])
    )

    page = tree(response.content)
    assert page.find(id="lesson-preview-body").find("h2", id="version-one")
    assert page.find("textarea", id="id_body_markdown")["hx-target"] == "#lesson-preview-body"
    assert "Revert" in response.content.decode()  # simple-history's form, not the change form


# --- History: a line diff between versions --------------------------------------------------------


def history_rows(client, url: str) -> tuple[list[str], list[Node]]:
    table = tree(client.get(url).content).find("table", id="change-history")
    headers = [th.words() for th in table.find("thead").find_all("th")]
    return headers, table.find("tbody").find_all("tr")


def test_history_shows_a_line_diff_of_the_body(staff_client):
    lines = [f"Line {n} stays." for n in range(1, 200)]
    lesson = LessonFactory(body_markdown="\n".join(["## Start", *lines, "Old <b>end</b>."]))
    staff_client.post(
        reverse("admin:lessons_lesson_change", args=[lesson.pk]),
        lesson_form(
            lesson,
            body_markdown="\n".join(["## Start", *lines, "New <script>end</script>.", "More."]),
        ),
    )
    url = reverse("admin:lessons_lesson_history", args=[lesson.pk])

    html = staff_client.get(url).content.decode()

    assert "chars]" not in html  # simple-history's shortened "[7482 chars]"
    assert "<script>end" not in html and "&lt;script&gt;end&lt;/script&gt;" in html
    diff = tree(html).find("details", cls="line-diff")
    assert diff.find("summary").words() == "Body markdown: 2 lines added, 1 removed"
    removed = [line.text() for line in diff.find_all("del", cls="diff-removed")]
    added = [line.text() for line in diff.find_all("ins", cls="diff-added")]
    assert removed == ["- Old <b>end</b>."]  # the text, escaped, not markup
    assert added == ["+ New <script>end</script>.", "+ More."]
    context = [line.text() for line in diff.find_all(cls="diff-context")]
    assert context == ["  Line 198 stays.", "  Line 199 stays."]  # a few lines around it
    assert diff.find(cls="diff-hunk").text().startswith("@@ ")


def test_history_shows_a_missing_change_reason_as_a_dash(staff_client):
    lesson = LessonFactory(title="Before")
    staff_client.post(
        reverse("admin:lessons_lesson_change", args=[lesson.pk]), lesson_form(lesson, title="After")
    )

    headers, rows = history_rows(
        staff_client, reverse("admin:lessons_lesson_history", args=[lesson.pk])
    )

    reasons = [row.find_all("td")[headers.index("Change reason")].words() for row in rows]
    assert reasons and set(reasons) == {"—"}
    # A short field still reads "old → new".
    assert "Title: Before → After" in rows[0].find_all("td")[headers.index("Changes")].words()


def test_question_history_diffs_its_prompt_too(staff_client):
    question = quiz_with_questions().questions.first()
    question.prompt = "First line\nSecond line"
    question.save()
    question.prompt = "First line\nA better second line"
    question.save()

    html = staff_client.get(
        reverse("admin:lessons_question_history", args=[question.pk])
    ).content.decode()

    assert '<del class="diff-line diff-removed">- Second line</del>' in html
    assert '<ins class="diff-line diff-added">+ A better second line</ins>' in html


def test_line_diff_marks_lines_by_sign_and_escapes():
    from lessons.admin.history import line_diff

    html = line_diff("a\nb & c\nd", "a\nb &amp; c\nd\ne", label="Body")

    assert '<del class="diff-line diff-removed">- b &amp; c</del>' in html
    assert '<ins class="diff-line diff-added">+ b &amp;amp; c</ins>' in html
    assert '<ins class="diff-line diff-added">+ e</ins>' in html
    assert "Body: 2 lines added, 1 removed" in html
    assert "only line endings changed" in line_diff("a\r\nb", "a\nb", label="Body")


# --- Links between the admin and the staff pages --------------------------------------------------


def test_admin_links_to_the_gradebook_and_the_review_queue(staff_client):
    for url in (
        reverse("admin:index"),
        reverse("admin:lessons_attempt_changelist"),
        reverse("admin:lessons_lesson_changelist"),
    ):
        tools = tree(staff_client.get(url).content).find(id="user-tools")
        links = {a["href"]: a.words() for a in tools.find_all("a")}
        assert links[reverse("lessons:gradebook")] == "Gradebook"
        assert links[reverse("lessons:review-queue")] == "Review queue"


def test_gradebook_and_review_queue_link_back_to_the_admin(staff_client):
    gradebook = staff_client.get(reverse("lessons:gradebook")).content.decode()
    review = staff_client.get(reverse("lessons:review-queue")).content.decode()

    assert f'href="{reverse("admin:app_list", kwargs={"app_label": "lessons"})}"' in gradebook
    assert f'href="{reverse("admin:lessons_attempt_changelist")}"' in review
    assert f'href="{reverse("admin:index")}"' in review


# --- Quiz and question admin ----------------------------------------------------------------------


def test_quiz_admin_lists_its_questions_with_links(staff_client):
    quiz = quiz_with_questions()

    html = staff_client.get(reverse("admin:lessons_quiz_change", args=[quiz.pk])).content.decode()

    for question in quiz.questions.all():
        assert reverse("admin:lessons_question_change", args=[question.pk]) in html


def test_question_admin_filters_by_quiz_and_kind(staff_client):
    quiz = quiz_with_questions()

    response = staff_client.get(
        reverse("admin:lessons_question_changelist"), {"quiz__id__exact": quiz.pk, "kind": "single"}
    )

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [quiz.questions.get(kind="single")]


def question_form(question: Question, choices: list[tuple[str, bool]], **changes) -> dict:
    data = {
        "quiz": question.quiz_id,
        "key": question.key,
        "order": question.order,
        "kind": question.kind,
        "prompt": question.prompt,
        "explanation": question.explanation,
        "is_active": "on",
        "choices-TOTAL_FORMS": len(choices),
        "choices-INITIAL_FORMS": 0,
        "choices-MIN_NUM_FORMS": 0,
        "choices-MAX_NUM_FORMS": 1000,
        "accepted_answers-TOTAL_FORMS": 0,
        "accepted_answers-INITIAL_FORMS": 0,
        "accepted_answers-MIN_NUM_FORMS": 0,
        "accepted_answers-MAX_NUM_FORMS": 1000,
        # Explain-in-your-words settings and inlines (empty for the other kinds).
        "similarity_threshold": 0.6,
        "similarity_margin": 0.2,
    }
    for prefix in ("reference_answers", "key_concepts", "grading_examples"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    for index, (text, correct) in enumerate(choices):
        data[f"choices-{index}-text"] = text
        data[f"choices-{index}-order"] = index
        data[f"choices-{index}-feedback"] = ""
        if correct:
            data[f"choices-{index}-is_correct"] = "on"
    data.update(changes)
    return data


def test_question_admin_refuses_a_single_choice_question_with_two_correct(staff_client):
    quiz = quiz_with_questions()
    question = Question(
        quiz=quiz, key="new-q", order=9, kind="single", prompt="P?", explanation="E"
    )

    response = staff_client.post(
        reverse("admin:lessons_question_add"), question_form(question, [("a", True), ("b", True)])
    )

    assert response.status_code == 200
    assert "Mark exactly one choice as correct" in response.content.decode()
    assert not Question.objects.filter(key="new-q").exists()


def test_question_admin_saves_a_valid_question_with_choices(staff_client):
    quiz = quiz_with_questions()
    question = Question(
        quiz=quiz, key="new-q", order=9, kind="multiple", prompt="P?", explanation="E"
    )

    response = staff_client.post(
        reverse("admin:lessons_question_add"),
        question_form(question, [("a", True), ("b", False), ("c", True)]),
    )

    assert response.status_code == 302
    saved = Question.objects.get(key="new-q")
    assert [(c.text, c.is_correct) for c in saved.choices.all()] == [
        ("a", True),
        ("b", False),
        ("c", True),
    ]
    assert saved.history.latest("history_date").history_user == staff_client.staff


def test_question_admin_requires_accepted_answers_for_short_text(staff_client):
    quiz = quiz_with_questions()
    question = Question(
        quiz=quiz, key="st", order=9, kind="short_text", prompt="P?", explanation="E"
    )

    response = staff_client.post(reverse("admin:lessons_question_add"), question_form(question, []))

    assert response.status_code == 200
    assert "needs at least one accepted answer" in response.content.decode()
    assert not Question.objects.filter(key="st").exists()


# --- Attempts are read-only -----------------------------------------------------------------------


def test_attempt_admin_is_read_only_with_answers_inline(staff_client):
    question = single_choice_question()
    attempt = Attempt.objects.create(quiz=question.quiz, anon_id="abc123456789", shuffle_seed=3)
    answer = Answer.objects.create(attempt=attempt, question=question, score=1, is_correct=True)
    answer.selected_choices.set([question.choices.get(is_correct=True)])
    url = reverse("admin:lessons_attempt_change", args=[attempt.pk])

    page = staff_client.get(url)
    post = staff_client.post(url, {"status": "submitted"})

    assert page.status_code == 200
    html = page.content.decode()
    assert "Encoder only" in html  # the picked choice, shown in the answer inline
    assert 'name="_save"' not in html
    assert post.status_code == 403
    assert staff_client.get(reverse("admin:lessons_attempt_add")).status_code == 403
    listing = staff_client.get(reverse("admin:lessons_attempt_changelist")).content.decode()
    assert "anonymous abc12345" in listing
