"""Property-based: the Markdown course loader against broken, hostile and enormous files.

``parse_lesson_text`` either returns a lesson or raises ``CourseFileError`` with a
message naming the file and the problem: never another exception, whatever the text
(random text, front matter of random YAML, a valid lesson with any one field replaced by
junk, YAML alias bombs). ``course_load`` on a folder of such files reports each broken
file, loads the good ones, saves nothing of a broken or duplicated one, and never crashes.
"""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessons.course_files import MAX_FILE_BYTES, CourseFileError, parse_lesson_text
from lessons.loader import course_load
from lessons.models import Lesson, Question, Quiz

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALID = {
    "slug": "fuzzed-lesson",
    "title": "A lesson",
    "section": "Foundations",
    "order": 1,
    "duration": 10,
    "summary": "What it is about.",
    "quiz": {
        "title": "Check yourself",
        "pass_mark": 70,
        "attempts_allowed": None,
        "score_policy": "best",
        "reveal_answers": True,
        "questions": [
            {
                "key": "one",
                "kind": "single",
                "prompt": "Which?",
                "explanation": "Because.",
                "choices": [{"text": "A", "correct": True}, {"text": "B", "correct": False}],
            },
            {
                "key": "two",
                "kind": "short_text",
                "prompt": "Name it.",
                "explanation": "MLM.",
                "accepted": ["MLM"],
            },
        ],
    },
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(
        [
            "",
            " ",
            "Not A Slug",
            "x" * 5000,
            "-1",
            "../../etc/passwd",
            "<script>",
            "\x00",
            "🙂",
            "yes",
            "null",
            "~",
        ]
    ),
)
PATHS = [
    ("slug",),
    ("title",),
    ("section",),
    ("order",),
    ("duration",),
    ("summary",),
    ("course",),
    ("quiz",),
    ("quiz", "title"),
    ("quiz", "pass_mark"),
    ("quiz", "attempts_allowed"),
    ("quiz", "score_policy"),
    ("quiz", "reveal_answers"),
    ("quiz", "questions"),
    ("quiz", "questions", 0),
    ("quiz", "questions", 0, "key"),
    ("quiz", "questions", 0, "kind"),
    ("quiz", "questions", 0, "choices"),
    ("quiz", "questions", 0, "choices", 0),
    ("quiz", "questions", 0, "choices", 0, "correct"),
    ("quiz", "questions", 1, "accepted"),
    ("quiz", "questions", 1, "key"),
    ("quiz", "questions", 0, "partial_credit"),
]


def document(meta: object, body: str = "Some *Markdown* body.\n") -> str:
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
    return f"---\n{front}---\n{body}"


def with_junk(path: tuple, value: object) -> dict:
    import copy

    meta = copy.deepcopy(VALID)
    node = meta
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return meta


def parse_or_refuse(text: str) -> None:
    try:
        parse_lesson_text(text, path="fuzzed.md")
    except CourseFileError as exc:
        message = str(exc)
        assert "fuzzed.md" in message and len(message) > len("fuzzed.md: "), message


def test_the_valid_template_parses():
    parsed = parse_lesson_text(document(VALID), path="fuzzed.md")
    assert parsed.slug == "fuzzed-lesson"


@FUZZ
@given(text=st.text(max_size=2000))
def test_any_text_is_a_lesson_or_a_clear_error(text):
    parse_or_refuse(text)
    parse_or_refuse("---\n" + text)
    parse_or_refuse("---\n" + text + "\n---\nbody")


@FUZZ
@given(
    meta=st.recursive(
        junk,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=6)
        ),
        max_leaves=20,
    )
)
def test_front_matter_of_any_shape_is_a_lesson_or_a_clear_error(meta):
    parse_or_refuse(document(meta))


@FUZZ
@given(path=st.sampled_from(PATHS), value=junk)
def test_a_valid_lesson_with_any_field_broken_is_a_lesson_or_a_clear_error(path, value):
    parse_or_refuse(document(with_junk(path, value)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "---",
        "---\n---\n",
        "---\n---\nbody",
        "no front matter at all",
        "---\nslug: [unclosed\n---\nbody",
        "---\n: : :\n---\nbody",
        "---\n- a list\n---\nbody",
        "---\n!!python/object/apply:os.system ['echo pwned']\n---\nbody",
        "---\nslug: !!binary aGVsbG8=\n---\nbody",
        "\ufeff---\nslug: bom\n---\nbody",
        textwrap.dedent("""\
            ---
            slug: bomb
            title: Bomb
            section: S
            order: 1
            duration: 5
            a: &a ["x","x","x","x","x","x","x","x","x"]
            b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
            c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
            d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
            e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
            f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
            g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
            quiz: {title: Q, questions: *g}
            summary: *g
            ---
            Body.
            """),
    ],
    ids=lambda t: repr(t[:30]),
)
def test_broken_front_matter_is_refused_clearly(text):
    parse_or_refuse(text)


def test_unsafe_yaml_tags_are_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"---\nslug: !!python/object/apply:os.system ['touch {marker}']\n---\nbody"
    with pytest.raises(CourseFileError):
        parse_lesson_text(text, path="evil.md")
    assert not marker.exists()


# --- Whole folders ------------------------------------------------------------------------


def write(folder, name: str, text: str | bytes) -> None:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


@pytest.mark.django_db
def test_a_folder_of_bad_files_loads_the_good_ones_and_reports_the_rest(tmp_path):
    good = with_junk(("slug",), "good-lesson")
    write(tmp_path, "01-good.md", document(good))
    write(tmp_path, "02-dup-a.md", document(with_junk(("slug",), "twin")))
    write(tmp_path, "03-dup-b.md", document(with_junk(("slug",), "twin")))
    write(
        tmp_path, "04-huge.md", document(with_junk(("slug",), "huge"), "x" * (MAX_FILE_BYTES + 10))
    )
    write(
        tmp_path,
        "05-latin1.md",
        document(with_junk(("slug",), "latin")).encode("latin-1") + "caf\xe9".encode("latin-1"),
    )
    write(tmp_path, "06-broken-yaml.md", "---\nslug: [\n---\nbody")
    write(
        tmp_path,
        "07-bad-quiz.md",
        document(with_junk(("quiz", "questions", 0, "choices"), "not a list")),
    )
    write(tmp_path, "08-empty.md", "")
    report = course_load(directory=tmp_path)
    assert report.created == ["good-lesson"]
    assert len(report.errors) == 6, report.errors
    joined = "\n".join(report.errors)
    for fragment in (
        "twin",
        "04-huge.md",
        "05-latin1.md",
        "06-broken-yaml.md",
        "07-bad-quiz.md",
        "08-empty.md",
    ):
        assert fragment in joined, fragment
    assert list(Lesson.objects.values_list("slug", flat=True)) == ["good-lesson"]
    assert Quiz.objects.count() == 1 and Question.objects.count() == 2


@pytest.mark.django_db
def test_random_folders_never_crash_the_loader_or_half_save(tmp_path_factory):
    @FUZZ
    @given(
        files=st.lists(st.tuples(st.sampled_from(PATHS), junk), min_size=1, max_size=4),
        slugs=st.lists(st.sampled_from(["a-one", "b-two", "a-one"]), min_size=4, max_size=4),
    )
    def run(files, slugs):
        folder = tmp_path_factory.mktemp("course")
        for index, (path, value) in enumerate(files):
            meta = with_junk(path, value)
            if path != ("slug",):
                meta["slug"] = slugs[index]
            write(folder, f"{index:02d}.md", document(meta))
        Lesson.objects.all().delete()
        report = course_load(directory=folder)
        loaded = set(report.created)
        assert set(Lesson.objects.values_list("slug", flat=True)) == loaded
        for lesson in Lesson.objects.all():
            quiz = Quiz.objects.filter(lesson=lesson).first()
            if quiz is not None:
                assert quiz.questions.count() == 2  # whole quiz or the lesson isn't there
        assert len(report.created) + len(report.errors) >= 1

    run()


@pytest.mark.parametrize(
    "text", ["---\nslug: unclosed\ntitle: No end\n", "---\n0\t", "---\n0\t\n---\nbody"]
)
@pytest.mark.django_db
def test_unclosed_front_matter_is_refused_clearly(tmp_path, text):
    write(tmp_path, "01-unclosed.md", text)
    write(tmp_path, "02-good.md", document(with_junk(("slug",), "still-loads")))
    report = course_load(directory=tmp_path)
    assert report.created == ["still-loads"]
    assert any("01-unclosed.md" in error for error in report.errors)


@pytest.mark.django_db
def test_a_nul_character_in_a_lesson_file_is_refused_clearly(tmp_path):
    write(tmp_path, "01-nul.md", document(with_junk(("title",), "Bad\x00title")))
    write(tmp_path, "02-good.md", document(with_junk(("slug",), "still-loads")))
    try:
        report = course_load(directory=tmp_path)
    except Exception as exc:  # PostgreSQL: the DataError escapes the loader
        pytest.fail(f"load_course crashed: {exc!r}")
    assert report.created == ["still-loads"]
    assert any("01-nul.md" in error for error in report.errors)
