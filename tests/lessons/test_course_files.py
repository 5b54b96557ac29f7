from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lessons.course_files import (
    MAX_FILE_BYTES,
    CourseFileError,
    canonical_hash,
    lesson_file_name,
    lesson_file_text,
    lesson_files,
    parse_lesson_file,
    parse_lesson_text,
)

FIXTURES = Path(__file__).parent / "fixtures" / "course"

VALID_META = {
    "slug": "bert",
    "title": "BERT",
    "section": "Models",
    "order": 3,
    "duration": 14,
    "summary": "Encoders.",
    "course": "bert-vs-gpt",
    "quiz": {
        "title": "Check yourself: BERT",
        "pass_mark": 70,
        "attempts_allowed": None,
        "score_policy": "best",
        "reveal_answers": True,
        "questions": [
            {
                "key": "share",
                "kind": "single",
                "prompt": "Share?",
                "explanation": "15%.",
                "choices": [{"text": "15%", "correct": True}, {"text": "50%"}],
            },
            {
                "key": "tokens",
                "kind": "multiple",
                "partial_credit": True,
                "prompt": "Special tokens?",
                "explanation": "CLS and SEP.",
                "choices": [
                    {"text": "[CLS]", "correct": True},
                    {"text": "[SEP]", "correct": True},
                    {"text": "<eos>", "feedback": "GPT-ish."},
                ],
            },
            {
                "key": "nsp",
                "kind": "true_false",
                "answer": False,
                "prompt": "RoBERTa keeps NSP.",
                "explanation": "It drops it.",
                "feedback_true": "No: RoBERTa dropped NSP.",
            },
            {
                "key": "cls",
                "kind": "short_text",
                "prompt": "Which token feeds the classifier?",
                "explanation": "[CLS].",
                "accepted": ["[CLS]", "CLS"],
            },
        ],
    },
}


def file_text(meta: dict, body: str = "## Heading\n\nBody text.\n") -> str:
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n{body}"


def with_changes(**changes) -> dict:
    meta = yaml.safe_load(yaml.safe_dump(VALID_META))
    meta.update(changes)
    return meta


def with_question(index: int, **changes) -> dict:
    meta = with_changes()
    question = meta["quiz"]["questions"][index]
    for key, value in changes.items():
        if value is ...:
            question.pop(key, None)
        else:
            question[key] = value
    return meta


def test_valid_file_parses_into_the_canonical_form():
    parsed = parse_lesson_text(file_text(VALID_META), path="03-bert.md")

    data = parsed.data
    assert parsed.warnings == []
    assert data["slug"] == "bert"
    assert data["duration"] == 14
    assert data["body"] == "## Heading\n\nBody text.\n"
    questions = data["quiz"]["questions"]
    assert [q["key"] for q in questions] == ["share", "tokens", "nsp", "cls"]
    assert questions[1]["partial_credit"] is True
    assert questions[0]["partial_credit"] is False
    # true/false is stored as two choices, True then False
    assert questions[2]["choices"] == [
        {"text": "True", "correct": False, "feedback": "No: RoBERTa dropped NSP."},
        {"text": "False", "correct": True, "feedback": ""},
    ]
    assert questions[3]["accepted"] == ["[CLS]", "CLS"]
    assert questions[3]["choices"] == []


def test_defaults_fill_optional_quiz_settings_and_course():
    meta = with_changes()
    del meta["course"]
    for key in ("pass_mark", "attempts_allowed", "score_policy", "reveal_answers"):
        del meta["quiz"][key]

    data = parse_lesson_text(file_text(meta)).data

    assert data["course"] == "bert-vs-gpt"
    assert data["quiz"]["pass_mark"] == 70
    assert data["quiz"]["attempts_allowed"] is None
    assert data["quiz"]["score_policy"] == "best"
    assert data["quiz"]["reveal_answers"] is True


def test_lesson_without_quiz_is_allowed():
    meta = with_changes()
    del meta["quiz"]

    assert parse_lesson_text(file_text(meta)).data["quiz"] is None


def test_unknown_keys_are_reported_as_warnings():
    meta = with_changes(durration=3)
    meta["quiz"]["questions"][0]["hint"] = "x"

    parsed = parse_lesson_text(file_text(meta), path="03-bert.md")

    assert any("unknown key `durration`" in w for w in parsed.warnings)
    assert any("question 1 (share)" in w and "`hint`" in w for w in parsed.warnings)
    assert all(w.startswith("03-bert.md: ") for w in parsed.warnings)


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        (with_changes(slug=None), "not a valid slug"),
        (with_changes(slug="Bad Slug"), "not a valid slug"),
        (with_changes(slug="double--hyphen"), "not a valid slug"),
        (with_changes(title=""), "`title` is required"),
        (with_changes(title="x" * 201), "longer than 200"),
        (with_changes(section=None), "`section` is required"),
        (with_changes(order="three"), "`order` must be a whole number"),
        (with_changes(order=True), "`order` must be a whole number"),
        (with_changes(duration=0), "`duration` must be between 1 and 600"),
        (with_changes(course="Not A Slug"), "not a valid slug"),
        (with_changes(quiz=["not", "a", "mapping"]), "`quiz` must be a mapping"),
        (with_changes(quiz={"title": "Q", "questions": []}), "non-empty list"),
        (with_question(0, kind="essay"), "`kind` must be one of"),
        (with_question(0, key="Bad Key"), "not a valid slug"),
        (with_question(0, prompt=""), "`prompt` is required"),
        (with_question(0, explanation=...), "`explanation` is required"),
        (
            with_question(
                0, choices=[{"text": "a", "correct": True}, {"text": "b", "correct": True}]
            ),
            "exactly one correct",
        ),
        (with_question(0, choices=[{"text": "a"}, {"text": "b"}]), "exactly one correct"),
        (with_question(0, choices=[{"text": "a", "correct": True}]), "at least 2 choices"),
        (with_question(0, choices=[{"text": "a", "correct": True}, {"text": "a"}]), "duplicate"),
        (
            with_question(0, choices=[{"text": "a", "correct": "yes"}, {"text": "b"}]),
            "true or false",
        ),
        (with_question(1, choices=[{"text": "a"}, {"text": "b"}]), "at least one correct"),
        (with_question(2, answer=...), "`answer` must be true or false"),
        (with_question(2, answer="true"), "`answer` must be true or false"),
        (with_question(2, choices=[{"text": "True"}]), "use `answer"),
        (with_question(3, accepted=[]), "at least one `accepted`"),
        (with_question(3, accepted=...), "at least one `accepted`"),
        (with_question(3, accepted=["x" * 301]), "1 to 300"),
        (with_question(0, accepted=["x"]), "only for short_text"),
        (with_question(0, answer=True), "only for true_false"),
        (with_question(1, key="share"), "duplicate question key(s): share"),
    ],
)
def test_invalid_files_raise_a_clear_error(meta, reason):
    with pytest.raises(CourseFileError) as excinfo:
        parse_lesson_text(file_text(meta), path="lessons/03-bert.md")

    message = str(excinfo.value)
    assert message.startswith("03-bert.md: ")
    assert reason in message


def test_front_matter_is_required():
    with pytest.raises(CourseFileError, match="no YAML front matter"):
        parse_lesson_text("## Just markdown\n", path="x.md")


def test_invalid_yaml_names_the_line():
    text = "---\nslug: bert\ntitle: [unclosed\nsection: x\n---\nbody\n"

    with pytest.raises(CourseFileError, match=r"x\.md: front matter is not valid YAML at line \d"):
        parse_lesson_text(text, path="x.md")


def test_front_matter_must_be_a_mapping():
    with pytest.raises(CourseFileError, match="mapping"):
        parse_lesson_text("---\n- a\n- b\n---\nbody\n", path="x.md")


def test_empty_body_is_refused():
    with pytest.raises(CourseFileError, match="body is empty"):
        parse_lesson_text(file_text(VALID_META, body="  \n"), path="x.md")


def test_enormous_files_are_refused_before_parsing(tmp_path):
    path = tmp_path / "01-huge.md"
    path.write_text(file_text(VALID_META, body="x" * (MAX_FILE_BYTES + 1)), encoding="utf-8")

    with pytest.raises(CourseFileError, match="limited to 1,048,576 bytes"):
        parse_lesson_file(path)


def test_non_utf8_files_are_refused(tmp_path):
    path = tmp_path / "01-latin1.md"
    path.write_bytes(file_text(VALID_META).encode("utf-8") + "café".encode("latin-1"))

    with pytest.raises(CourseFileError, match="not valid UTF-8"):
        parse_lesson_file(path)


def test_crlf_files_parse_like_lf_files():
    lf = parse_lesson_text(file_text(VALID_META)).data
    crlf = parse_lesson_text(file_text(VALID_META).replace("\n", "\r\n")).data

    assert crlf == lf


def test_lesson_files_skips_readme_hidden_and_underscored(tmp_path):
    for name in ("01-a.md", "README.md", ".draft.md", "_notes.md", "notes.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")

    assert [path.name for path in lesson_files(tmp_path)] == ["01-a.md"]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.md")), ids=lambda p: p.name)
def test_write_then_parse_gives_the_same_data(path):
    data = parse_lesson_file(path).data

    again = parse_lesson_text(lesson_file_text(data), path=lesson_file_name(data)).data

    assert again == data
    assert canonical_hash(again) == canonical_hash(data)


def test_written_true_false_uses_answer_not_choices():
    data = parse_lesson_text(file_text(VALID_META)).data

    meta = yaml.safe_load(lesson_file_text(data).split("---\n")[1])

    nsp = meta["quiz"]["questions"][2]
    assert nsp["answer"] is False
    assert "choices" not in nsp
    assert nsp["feedback_true"] == "No: RoBERTa dropped NSP."
    assert "feedback_false" not in nsp
    assert lesson_file_name(data) == "03-bert.md"
