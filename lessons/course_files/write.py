"""Writing lessons back as files, in the form `parse` reads (export, round trips)."""

from __future__ import annotations

from typing import Any

import yaml

# --- Writing -----------------------------------------------------------------------------


def _concept_to_file(concept: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"label": concept["label"], "phrases": list(concept["phrases"])}
    if concept.get("misconceptions"):
        out["misconceptions"] = list(concept["misconceptions"])
    return out


def _question_to_file(question: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"key": question["key"], "kind": question["kind"]}
    if question["kind"] == "multiple":
        out["partial_credit"] = question["partial_credit"]
    out["prompt"] = question["prompt"]
    out["explanation"] = question["explanation"]
    if question["kind"] == "true_false":
        by_text = {choice["text"]: choice for choice in question["choices"]}
        out["answer"] = bool(by_text.get("True", {}).get("correct"))
        for label, key in (("True", "feedback_true"), ("False", "feedback_false")):
            if by_text.get(label, {}).get("feedback"):
                out[key] = by_text[label]["feedback"]
    elif question["kind"] == "short_text":
        out["accepted"] = list(question["accepted"])
    elif question["kind"] == "free_text":
        out["threshold"] = question["threshold"]
        out["margin"] = question["margin"]
        out["references"] = list(question["references"])
        if question["concepts"]:
            out["concepts"] = [_concept_to_file(c) for c in question["concepts"]]
        if question["examples"]:
            out["examples"] = [
                {"label": e["label"], "text": e["text"]} for e in question["examples"]
            ]
    else:
        choices = []
        for choice in question["choices"]:
            item: dict[str, Any] = {"text": choice["text"]}
            if choice["correct"]:
                item["correct"] = True
            if choice["feedback"]:
                item["feedback"] = choice["feedback"]
            choices.append(item)
        out["choices"] = choices
    return out


def lesson_file_text(data: dict[str, Any]) -> str:
    """The file text for a canonical lesson dict (inverse of ``parse_lesson_text``)."""
    meta: dict[str, Any] = {
        "slug": data["slug"],
        "title": data["title"],
        "section": data["section"],
        "order": data["order"],
        "duration": data["duration"],
        "summary": data["summary"],
        "course": data["course"],
    }
    quiz = data.get("quiz")
    if quiz is not None:
        meta["quiz"] = {
            "title": quiz["title"],
            "pass_mark": quiz["pass_mark"],
            "attempts_allowed": quiz["attempts_allowed"],
            "score_policy": quiz["score_policy"],
            "reveal_answers": quiz["reveal_answers"],
            "questions": [_question_to_file(question) for question in quiz["questions"]],
        }
    front = yaml.safe_dump(
        meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    return f"---\n{front}---\n\n{data['body']}"


def lesson_file_name(data: dict[str, Any]) -> str:
    return f"{data['order']:02d}-{data['slug']}.md"
