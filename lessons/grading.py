"""Scoring quiz answers: pure functions, no ORM, no Django.

Every function takes plain values (ids, strings, floats) and returns a
:class:`Grade` or a number, so the rules can be tested exhaustively and reused by
services, selectors and the gradebook alike.

Scores are floats in ``0..1``. The rules:

* single choice / true-false: 1 when exactly one choice is picked and it is a
  correct one, else 0.
* multiple select, all-or-nothing: 1 when the picked set equals the correct set,
  else 0.
* multiple select with partial credit::

      score = max(0, (right picks - wrong picks) / number of correct choices)

  so each correct pick earns an equal share, each wrong pick takes one share
  away, and the score never goes below 0. Picking everything scores
  ``(C - W) / C``; picking only wrong choices scores 0. It is ``is_correct`` only
  when the picked set is exactly the correct set (score 1).
* short text: correct when the normalised answer equals one of the normalised
  accepted answers (see :func:`normalise_answer`).
* the counted score over several submitted attempts follows the quiz's policy:
  best, last, first or average (:func:`counted_score`).
* explain in your words (free text): graded by meaning from the sentence
  encoder's cosine similarities (:func:`grade_free_text`, rules below it).

Over 450 lines on purpose: every kind's scoring rule in one pure module, tested as one.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "RIGHT",
    "WRONG",
    "ConceptEvidence",
    "ConceptResult",
    "FreeTextGrade",
    "Grade",
    "concept_evidence",
    "counted_score",
    "free_text_label",
    "grade_free_text",
    "grade_multiple",
    "grade_short_text",
    "grade_single",
    "grade_true_false",
    "normalise_answer",
    "passes",
    "percent_label",
]

# Tolerance when comparing float scores with percentages: 0.29 * 100 is
# 28.999999999999996 in binary floating point, and that must still pass at 29.
_EPSILON = 1e-9

SCORE_POLICIES = ("best", "last", "first", "average")


@dataclass(frozen=True, slots=True)
class Grade:
    """The outcome of grading one answer: ``score`` in 0..1 and whether it is fully right."""

    score: float
    is_correct: bool

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be within 0..1, got {self.score!r}")


WRONG = Grade(score=0.0, is_correct=False)
RIGHT = Grade(score=1.0, is_correct=True)


def _as_set(ids: Iterable[int]) -> frozenset[int]:
    return frozenset(ids)


def grade_single(selected_ids: Iterable[int], correct_ids: Iterable[int]) -> Grade:
    """One pick expected: right when exactly one choice is picked and it is correct.

    Picking nothing, or more than one choice, scores 0 (the form layer rejects
    two picks before grading; this stays safe if it ever gets them).
    """
    selected = _as_set(selected_ids)
    correct = _as_set(correct_ids)
    if len(selected) == 1 and selected <= correct:
        return RIGHT
    return WRONG


def grade_true_false(selected_ids: Iterable[int], correct_ids: Iterable[int]) -> Grade:
    """True/false is a single choice between the two stored choices "True" and "False"."""
    return grade_single(selected_ids, correct_ids)


def grade_multiple(
    selected: Iterable[int],
    correct: Iterable[int],
    all_ids: Iterable[int],
    partial_credit: bool = False,
) -> Grade:
    """Multiple select: all-or-nothing, or ``max(0, (right - wrong) / len(correct))``.

    ``all_ids`` are the question's choices; a pick outside them is a bug in the
    caller (the form layer rejects such picks) and raises ``ValueError``, as does
    a correct id that is not one of the question's choices.
    """
    picked = _as_set(selected)
    right_set = _as_set(correct)
    universe = _as_set(all_ids)
    if not picked <= universe:
        raise ValueError(f"picked ids {sorted(picked - universe)} are not choices of the question")
    if not right_set <= universe:
        raise ValueError(f"correct ids {sorted(right_set - universe)} are not choices")

    exact = picked == right_set
    if exact:
        return RIGHT
    if not partial_credit or not right_set:
        return WRONG
    right_picks = len(picked & right_set)
    wrong_picks = len(picked - right_set)
    score = max(0.0, (right_picks - wrong_picks) / len(right_set))
    return Grade(score=score, is_correct=False)


def _strip_punctuation(text: str) -> str:
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def _normalise_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    text = unicodedata.normalize("NFKC", text)
    text = _strip_punctuation(text)
    text = " ".join(text.split())
    # Chinese is written without word spaces: a space next to a CJK character means nothing
    return _CJK_SPACE.sub("", text)


_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) | (?=[{_CJK}])")


def normalise_answer(text: str) -> str:
    """Canonical form of a short-text answer, for comparing with accepted answers.

    Unicode NFKC (full-width letters, ligatures, "⑴" → "(1)"), casefold ("ß" →
    "ss"), drop every punctuation character (Unicode categories P*), then collapse
    runs of whitespace to one space and trim; a space next to a Chinese character is dropped
    (Chinese has no word spaces). So ``"  The [CLS] token! "`` and ``"the cls token"`` are
    equal, and so are ``"ＣＬＳ 词元。"`` and ``"cls词元"``. Idempotent: normalising twice
    changes nothing (the steps repeat until the text is stable, because dropping punctuation can
    bring a letter next to a combining mark that NFKC then composes).
    """
    for _ in range(8):
        normalised = _normalise_once(text)
        if normalised == text:
            break
        text = normalised
    return text


def grade_short_text(text: str, accepted: Iterable[str]) -> Grade:
    """Right when the normalised ``text`` equals a normalised accepted answer.

    An answer that normalises to nothing (blank or punctuation only) is never
    right, even if an accepted answer is itself blank after normalising.
    """
    answer = normalise_answer(text)
    if not answer:
        return WRONG
    accepted_forms = {normalise_answer(candidate) for candidate in accepted}
    return RIGHT if answer in accepted_forms else WRONG


def counted_score(scores: Sequence[float], policy: str) -> float | None:
    """The score that counts for a learner, from their submitted attempts' scores.

    ``scores`` must be in the order the attempts were submitted (oldest first).
    Policies: ``best`` (highest), ``last`` (most recent), ``first`` (earliest),
    ``average`` (arithmetic mean). No attempts gives ``None``.
    """
    if policy not in SCORE_POLICIES:
        raise ValueError(f"unknown score policy {policy!r}; expected one of {SCORE_POLICIES}")
    if not scores:
        return None
    if policy == "best":
        return max(scores)
    if policy == "last":
        return scores[-1]
    if policy == "first":
        return scores[0]
    return math.fsum(scores) / len(scores)


def passes(score: float | None, pass_mark: int | float) -> bool | None:
    """Whether ``score`` (0..1) reaches ``pass_mark`` (percent); ``None`` when not scored."""
    if score is None:
        return None
    return score * 100 >= pass_mark - _EPSILON


def percent_label(score: float | None) -> str:
    """``score`` as a percentage for people: rounded down to one decimal, ".0" dropped.

    Rounding down keeps the label honest next to the pass mark: 69.96 % shows as
    "69.9%", never as a "70%" that did not pass.
    """
    if score is None:
        return "–"
    tenths = math.floor(score * 1000 + _EPSILON)
    whole, tenth = divmod(tenths, 10)
    return f"{whole}%" if tenth == 0 else f"{whole}.{tenth}%"


# --- Explain in your words: graded by meaning ------------------------------------------------
#
# The worker embeds the learner's answer with the sentence encoder (all-MiniLM-L6-v2, the
# embeddings demo's model) and sends back plain numbers: the cosine similarity of the answer
# to each reference answer (with the question's own content words demoted, see
# ``inference.worker.engine.short_answer``), for each key concept the best cosine between one of
# its phrases and the answer or one of its clauses, and for each concept with misconceptions
# how well a piece of the answer matches one of them. The rules turning them into a score:
#
#   similarity = max over references of the cosine        (closest reference = the argmax)
#   meaning    = ramp(similarity; threshold - margin -> 0, threshold -> 1)
#   contradicted: a piece of the answer (the whole answer or a clause) whose nearest
#                statement of the question (a phrase or a misconception of any concept, by
#                cosine plus rare-word overlap, same polarity: the worker decides) is a
#                misconception of this concept, with a match >= MISCONCEPTION_AT
#   concept    : present when not contradicted and every content word of one of its phrases
#                occurs in one sentence of the answer (any order, any ending: the worker
#                checks), or its focused cosine >= CONCEPT_PRESENT_AT; its credit is 1 when
#                present, 0 when contradicted, else
#                ramp(cosine; CONCEPT_ABSENT_BELOW -> 0, CONCEPT_PRESENT_AT -> 1)
#                (the worker's cosines count only pieces of the answer nearer the phrase than
#                the question itself and not nearer one of the concept's misconceptions than
#                to every phrase; the focused cosine, only pieces whose nearest concept it is,
#                or nearly: one clause states one idea)
#   coverage   = mean concept credit (1 when the question has no key concepts)
#   raw        = min(meaning, coverage)
#   score      = ramp(raw; NO_CREDIT_BELOW -> 0, FULL_CREDIT_AT -> 1), except:
#     - an answer that contradicts a key concept scores 0 and needs an instructor's review;
#     - an answer with every key concept present and meaning >= ALL_IDEAS_MEANING scores 1;
#     - an answer that shows a key concept, with a similarity of at least
#       threshold - FLOOR_SIMILARITY_BELOW, scores at least PRESENT_FLOOR (partly right: a
#       short answer with one right idea is far from every full reference answer).
#
# where ramp(x; a -> 0, b -> 1) is 0 up to a, 1 from b and linear in between. So the grade is
# limited by the weaker of two judgements: does the answer mean what a reference answer means
# (similarity at or above the question's threshold), and does it contain the key concepts?
# Why both: sentence embeddings mostly measure the topic (a wrong answer about the same
# models can look close to a right one), while the concepts check the content that matters;
# and a list of the right words without a coherent explanation doesn't earn full credit
# either. Missing concepts lower the score and are shown to the learner.
# Why misconceptions: topic is not truth. "A larger temperature sharpens the distribution"
# is as close to the concept "the distribution becomes flatter" as the right answer is, and
# its words ("dividing the logits by the temperature") may even match a phrase. It is
# nearer still to the author's misconception "a higher temperature sharpens the
# distribution", and that is what the rule looks at. A contradiction scores 0 rather than
# losing one concept's share because a confident wrong explanation is wrong however much
# else it gets right, and it goes to an instructor because the encoder can be mistaken.
# Measured on held-out answers: docs/free-text-grading.md.
#
# The label is "correct" at score 1, "wrong" at score 0 and "partial" in between.
# ``confidence`` is how far ``raw`` is from the nearest label boundary (NO_CREDIT_BELOW or
# FULL_CREDIT_AT): the staff review queue shows the least confident grades first; an answer
# that contradicts a key concept has confidence 0 (``needs_review``).

FREE_TEXT_DEFAULT_THRESHOLD = 0.6
FREE_TEXT_DEFAULT_MARGIN = 0.2
CONCEPT_PRESENT_AT = 0.55
CONCEPT_ABSENT_BELOW = 0.35
MISCONCEPTION_AT = 0.5
ALL_IDEAS_MEANING = 0.3
PRESENT_FLOOR = 0.2
FLOOR_SIMILARITY_BELOW = 0.3
FULL_CREDIT_AT = 0.8
NO_CREDIT_BELOW = 0.3
FREE_TEXT_LABELS = ("correct", "partial", "wrong")


def _ramp(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear in between."""
    if value >= high:
        return 1.0
    if value <= low or high <= low:
        return 0.0
    return (value - low) / (high - low)


@dataclass(frozen=True, slots=True)
class ConceptEvidence:
    """What the worker found for one key concept in one answer: the best cosine between one
    of its phrases and the answer (or a clause of it), ``words``, a phrase whose content
    words all occur in one sentence of the answer ("" when none), and ``against``, the best
    match of a piece of the answer whose nearest statement is one of the concept's
    misconceptions (0 when none is; ``misconception`` says which)."""

    label: str
    similarity: float
    words: str = ""
    against: float = 0.0
    misconception: str = ""
    focused: float | None = None  # the cosine that makes it present (None: ``similarity``)


@dataclass(frozen=True, slots=True)
class ConceptResult:
    label: str
    present: bool
    matched_by: str  # "words" (a phrase's words are in the answer), "meaning" (cosine) or ""
    similarity: float
    credit: float
    contradicted: bool = False  # nearest to one of its misconceptions (then not present)
    misconception: str = ""  # that misconception, when contradicted


@dataclass(frozen=True, slots=True)
class FreeTextGrade:
    """The outcome of grading one free-text answer (see the rules above)."""

    score: float
    is_correct: bool
    label: str  # correct | partial | wrong
    similarity: float  # to the closest reference
    closest_index: int  # index of the closest reference
    meaning: float
    coverage: float
    raw: float
    confidence: float
    concepts: tuple[ConceptResult, ...] = field(default=())

    @property
    def missing(self) -> list[str]:
        return [concept.label for concept in self.concepts if not concept.present]

    @property
    def contradicted(self) -> list[str]:
        """The key concepts the answer contradicts."""
        return [concept.label for concept in self.concepts if concept.contradicted]

    @property
    def needs_review(self) -> bool:
        """An answer that contradicts a key concept waits for an instructor."""
        return any(concept.contradicted for concept in self.concepts)


def concept_evidence(items: Sequence[dict] | None) -> list[ConceptEvidence]:
    """The worker's per-concept findings (``short_answer_similarities``' ``concepts``) as
    :class:`ConceptEvidence`; a result without misconception numbers has none."""
    evidence = []
    for item in items or ():
        against = item.get("misconception") or {}
        evidence.append(
            ConceptEvidence(
                label=str(item.get("label", "")),
                similarity=float(item.get("similarity", 0.0)),
                words=str(item.get("words") or ""),
                against=float(against.get("similarity") or 0.0),
                misconception=str(against.get("phrase") or ""),
                focused=None if item.get("focused") is None else float(item["focused"]),
            )
        )
    return evidence


def free_text_label(score: float) -> str:
    """``correct`` at full credit, ``wrong`` at none, ``partial`` in between."""
    if score >= 1.0 - _EPSILON:
        return "correct"
    if score <= _EPSILON:
        return "wrong"
    return "partial"


def _check_unit(name: str, value: float, *, low: float = 0.0, high: float = 1.0) -> float:
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high}, got {value!r}")
    return value


def _concept_result(concept: ConceptEvidence) -> ConceptResult:
    cosine = _check_unit("concept similarity", concept.similarity, low=-1.0)
    focused = (
        cosine
        if concept.focused is None
        else _check_unit("concept similarity", concept.focused, low=-1.0)
    )
    against = _check_unit("misconception match", concept.against, low=-1.0)
    contradicted = bool(concept.misconception) and against >= MISCONCEPTION_AT - _EPSILON
    if contradicted:
        matched_by = ""
    elif concept.words:
        matched_by = "words"
    elif focused >= CONCEPT_PRESENT_AT:
        matched_by = "meaning"
    else:
        matched_by = ""
    if contradicted:
        credit = 0.0
    elif matched_by:
        credit = 1.0
    else:
        credit = _ramp(cosine, CONCEPT_ABSENT_BELOW, CONCEPT_PRESENT_AT)
    return ConceptResult(
        label=concept.label,
        present=bool(matched_by),
        matched_by=matched_by,
        similarity=cosine,
        credit=credit,
        contradicted=contradicted,
        misconception=concept.misconception if contradicted else "",
    )


def grade_free_text(
    similarities: Sequence[float],
    threshold: float,
    *,
    margin: float = FREE_TEXT_DEFAULT_MARGIN,
    concepts: Sequence[ConceptEvidence] = (),
) -> FreeTextGrade:
    """Score a free-text answer from the encoder's similarities (rules above).

    ``similarities`` holds the cosine of the answer to each reference answer (at least
    one); ``threshold`` is the similarity that earns full meaning credit and ``margin``
    how far below it the credit falls to 0. ``concepts`` carry what the worker found for
    each key concept. (A blank answer never gets here: it scores 0 without a worker.)
    """
    if not similarities:
        raise ValueError("grading a free-text answer needs at least one reference similarity")
    sims = [_check_unit("similarity", s, low=-1.0) for s in similarities]
    threshold = _check_unit("threshold", threshold)
    margin = _check_unit("margin", margin)
    closest = max(range(len(sims)), key=lambda i: (sims[i], -i))
    similarity = sims[closest]
    results = [_concept_result(concept) for concept in concepts]

    meaning = _ramp(similarity, threshold - margin, threshold)
    coverage = math.fsum(r.credit for r in results) / len(results) if results else 1.0
    raw = min(meaning, coverage)
    score = _ramp(raw, NO_CREDIT_BELOW, FULL_CREDIT_AT)
    confidence = min(abs(raw - NO_CREDIT_BELOW), abs(raw - FULL_CREDIT_AT))
    if any(r.contradicted for r in results):
        score, confidence = 0.0, 0.0  # an instructor looks at it first
    elif results and all(r.present for r in results) and meaning >= ALL_IDEAS_MEANING:
        score = 1.0
    elif any(r.present for r in results) and similarity >= threshold - FLOOR_SIMILARITY_BELOW:
        score = max(score, PRESENT_FLOOR)
    score = round(score, 4)
    label = free_text_label(score)
    return FreeTextGrade(
        score=score,
        is_correct=label == "correct",
        label=label,
        similarity=similarity,
        closest_index=closest,
        meaning=meaning,
        coverage=coverage,
        raw=raw,
        confidence=round(confidence, 4),
        concepts=tuple(results),
    )
