"""Short answers by meaning: how close a learner's answer is to the reference answers.

One batch through the sentence encoder (all-MiniLM-L6-v2 in the ``demo`` and ``full``
profiles: mean pooling over the last hidden state, then L2 normalisation, exactly like the
embeddings demo) embeds the answer and its clauses. The reference answers and key-concept
phrases are the same for every answer to a question, so each worker embeds them once and
keeps their vectors (:class:`_VectorCache`, bounded, shared by the worker's threads). The
result is plain numbers:

- ``similarities``: the cosine of the answer to each reference answer;
- ``concepts``: for each key concept, the best cosine between one of its phrases and the
  answer or one of its clauses (with which phrase and clause gave it).

Question demoting (a classic trick of short-answer grading): for the answer-to-reference
similarity, the question's own content words are dropped from the answer and the references
before embedding (function words stay, so the text still reads as a sentence). An answer that
only restates the question ("BERT can't generate text because it is too small") then no
longer looks like a reference that also talks about BERT generating text: what is compared is
what the answer adds. Without it the encoder's cosine mostly measures the topic. Key concepts
are matched against the answer as written: their phrases are the author's own words for
what a right answer must contain.

Misconceptions: a key concept may list statements that contradict it ("a higher temperature
sharpens the distribution" against "the distribution becomes flatter"). A sentence encoder
measures the topic, not the truth: a confident wrong answer that reuses the right words is as
close to the concept's phrases as a right one, and antonyms ("sharpens", "flattens") sit close
together. So each piece of the answer (the whole answer and each clause) is matched with its
nearest *statement*, every phrase and every misconception of the question, by a similarity
that adds word overlap to the cosine::

    match = STATEMENT_COSINE_WEIGHT * cosine + (1 - STATEMENT_COSINE_WEIGHT) * overlap

``overlap`` is the Dice overlap of the two texts' content words, each word weighted by how
rare it is among the question's statements (inverse document frequency): "after" or
"sharpens", which tell a misconception from its mirror, weigh more than "token" or
"distribution", which every statement shares. A piece and a statement of opposite polarity
(one says "not", "never", "instead"..., the other doesn't) are not compared: "it doesn't
sharpen the distribution" is no misconception. Words of order and position are compared
by meaning ("final" is "last", "earlier" and "previous" are "before", "later" and "future" are
"after"): they are the words that tell a misconception from its mirror. Polarity is the parity
of the negations, and
verbs that keep something from being seen or used ("hides", "blocks", "prevents", "removes"...)
count as one: "it hides the later tokens" says what "each token cannot see the later tokens"
says, not what "each token sees the later tokens" says. The worker reports, per concept, the
best match of a piece whose nearest statement is one of its misconceptions; ``lessons.grading``
decides what counts as a contradiction. A piece whose nearest statement is a misconception
also earns that concept nothing by meaning, even below the contradiction mark, unless a phrase
of the question (of either polarity) matches it better: "a higher temperature cuts off the
unlikely words" is near the phrase "the most likely words become less dominant" by cosine
(0.55), but nearer still to the misconception "a higher temperature sharpens the
distribution", and it says the opposite of the phrase.

Key concepts by meaning, guarded against the topic: a piece of the answer counts for a
concept's phrase only when its cosine to the phrase beats its cosine to the question itself by
``TOPIC_MARGIN``. An answer that only restates the question is near every phrase that talks
about the same things: "Because GPT adds a special [CLS] token at the end of the input" is 0.56
from "GPT reads from left to right", a cosine many right answers have, but 0.72 from the
question; what it adds is no idea.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inference.worker.engine.common import Stopwatch, model_card
from inference.worker.engine.embeddings import sentence_embeddings_batch

if TYPE_CHECKING:
    from inference.worker.loading import Loaded

MAX_CLAUSES = 16
MIN_CLAUSE_WORDS = 2
STATEMENT_COSINE_WEIGHT = 0.5  # a piece's match with a statement: cosine and word overlap
TOPIC_MARGIN = 0.05  # a piece counts for a phrase by meaning when nearer it than the question
ONE_IDEA_MARGIN = 0.1  # ...and makes a concept present when no other concept is much nearer
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Function words are never demoted (without them an answer stops reading as a sentence) and
# don't count when looking for a phrase's words. Negations are not among them: "no labels"
# and "labels" must not match each other.
_FUNCTION_WORDS_TEXT = """
    a an the and or but of to in on at for from by with about into over under as than then so
    if it it's its this that these those there here is are was were be been being am do does
    did done have has had can could may might must shall should will would i you your we our
    they their he she his her them us me my what why how when where which who whom whose own
    just also simply really very
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
# Words of order and position, compared by meaning: they are what tells a misconception from
# its mirror ("the first token has seen the whole input" against "the last token has seen the
# whole input"), and an answer that says "final" or "earlier" means "last" or "before".
_SAME_AS_TEXT = {
    "last": "last final end",
    "first": "first initial beginning",
    "before": "before earlier previous preceding prior past",
    "after": "after later future following subsequent ahead",
    "whole": "whole entire",
    "human": "human humans people person",
    "high": "high higher highest large larger largest big bigger biggest",
    "low": "low lower lowest small smaller smallest",
}
SAME_AS = {word: key for key, words in _SAME_AS_TEXT.items() for word in words.split()}
# Words that turn a statement round. A piece of the answer and a misconception are only
# compared when both or neither hold one (see the module docstring).
NEGATIONS = frozenset(
    ("not", "no", "never", "nobody", "nothing", "none", "neither", "nor", "without", "cannot")
    + ("instead", "rather")
)
# Verbs that keep something out of sight or use: "it hides the later tokens" is "the later
# tokens are not seen". Only verb forms: "hidden" (a hidden state) and "masked" (masked words)
# name things in this course, not an action.
_BLOCKING_TEXT = """
    hide hides hid hiding block blocks blocked blocking masks prevent prevents prevented
    stop stops stopped forbid forbids forbidden remove removes removed removing filter filters
    filtered exclude excludes excluded
"""
BLOCKING = frozenset(_BLOCKING_TEXT.split())

# Sentence ends, semicolons, colons, commas and dashes; and the connectives that usually
# start a new idea in an explanation ("..., so it ...", "... because ...").
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")
_SPLIT = re.compile(
    r"(?<=[.!?;:])\s+|\s*[,;:()\u2013\u2014]\s*|\s+-\s+"
    r"|\s+(?=\b(?:because|so|since|while|whereas|but|which|therefore|thus|otherwise|"
    r"and then|so that)\b)",
    flags=re.IGNORECASE,
)


def answer_clauses(text: str) -> list[str]:
    """The answer's sentences and clauses (two words or more), at most ``MAX_CLAUSES``.

    Key concepts are short phrases; comparing them with a long answer as a whole dilutes
    the match, so each is also compared with the answer's pieces.
    """
    pieces = []
    for part in _SPLIT.split(text):
        part = (part or "").strip(" .!?;:,-")
        if len(part.split()) >= MIN_CLAUSE_WORDS and part not in pieces:
            pieces.append(part)
    return pieces[:MAX_CLAUSES]


def _word_key(word: str) -> str:
    """A word compared loosely: casefolded, without a possessive, plural or -ing/-ed ending
    ("Masked", "masks", "masking" all give "mask"), and a word of order or position by the
    key of its meaning (``SAME_AS``: "final" gives "last"). Crude, but the same on both
    sides."""
    key = word.casefold().replace("’", "'").removesuffix("'s")
    if key in SAME_AS:
        return SAME_AS[key]
    for suffix, keep in (("ing", 3), ("ed", 3), ("es", 3), ("s", 3)):
        if key.endswith(suffix) and len(key) - len(suffix) >= keep and not key.endswith("ss"):
            return key[: -len(suffix)]
    return key


def content_words(text: str) -> frozenset[str]:
    """The loose keys of ``text``'s words, function words left out."""
    function = {_word_key(word) for word in FUNCTION_WORDS}
    return frozenset(key for key in map(_word_key, _WORD.findall(text)) if key not in function)


def phrase_in_text(phrase: str, text: str) -> bool:
    """True when every content word of ``phrase`` occurs in one sentence of ``text``, in any
    order and form ("read the answer" is in "...cheating by reading the answer")."""
    wanted = content_words(phrase)
    if not wanted:
        return False
    return any(wanted <= content_words(sentence) for sentence in _SENTENCE.split(text))


def negated(text: str) -> bool:
    """Whether ``text`` says no: an odd number of negations ("not", "never", "can't",
    "instead"...) and blocking verbs ("hides", "prevents"...). "It hides the later tokens" is
    negated; "it doesn't hide them" is not."""
    count = 0
    for word in _WORD.findall(text):
        word = word.casefold().replace("’", "'")
        if word in NEGATIONS or word in BLOCKING or word.endswith("n't"):
            count += 1
    return count % 2 == 1


def question_words(question: str) -> frozenset[str]:
    """The question's content words, compared loosely ("token's" also demotes "tokens")."""
    return content_words(question)


def demote(text: str, words: frozenset[str]) -> str:
    """``text`` without the question's content words ("" when nothing else is left)."""
    if not words:
        return text.strip()
    kept = [word for word in _WORD.findall(text) if _word_key(word) not in words]
    if not content_words(" ".join(kept)):
        return ""
    return " ".join(kept)


class _VectorCache:
    """Sentence vectors of texts that recur (references, phrases), per encoder, LRU-bounded."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._vectors: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, encoder: Loaded, texts: Sequence[str]):
        """The vectors of ``texts`` (a tensor, one row each), embedding only the new ones."""
        import torch

        keys = [(id(encoder.model), text) for text in texts]
        with self._lock:
            missing = list(dict.fromkeys(key for key in keys if key not in self._vectors))
        if missing:
            fresh = sentence_embeddings_batch(encoder, [text for _, text in missing])
            with self._lock:
                for key, vector in zip(missing, fresh, strict=True):
                    self._vectors[key] = vector
                    self._vectors.move_to_end(key)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        found = []
        for key in keys:
            with self._lock:
                vector = self._vectors.get(key)
            if vector is None:  # evicted meanwhile by another thread: embed it again
                vector = sentence_embeddings_batch(encoder, [key[1]])[0]
            found.append(vector)
        return torch.stack(found)


_cache = _VectorCache()


def short_answer_similarities(
    encoder: Loaded,
    *,
    text: str,
    references: Sequence[str],
    concepts: Sequence[dict[str, Any]] = (),
    question: str = "",
) -> dict:
    """Cosine similarities of ``text`` to each reference and to each concept's phrases.

    ``concepts`` are ``{"label": str, "phrases": [str, ...], "misconceptions": [str, ...]}``
    (misconceptions optional); ``question`` is the prompt whose words are demoted (see the
    module docstring). Returns ``{"similarities": [float per reference], "concepts":
    [{"label", "similarity", "focused", "phrase", "clause", "words"[, "misconception"]}],
    "clauses": [str], "model": {...}, "elapsed_ms": float}``: per concept the best cosine of
    a piece of the answer that says more than the question and is not nearer one of the
    concept's misconceptions (-1 when no piece is), with the phrase and the piece that gave it;
    ``focused``, the same from the pieces no other concept is much nearer to (see
    :func:`_concept_matches`); and ``words``, a phrase all of whose content words occur in one
    sentence of the answer ("" when none). A concept with misconceptions also gets
    ``misconception``: ``{"similarity", "phrase", "clause"}``, the best match of a piece of the
    answer whose nearest statement is one of the concept's misconceptions (0 and "" when no
    piece is nearest to one). An answer with nothing left
    after demoting scores 0 against every reference.
    """
    if not references:
        raise ValueError("at least one reference answer is needed")
    words = question_words(question)
    answer_text = demote(text, words)
    clauses = [clause for clause in answer_clauses(text) if clause != text.strip()]
    # Every statement of the question: (concept index, is a misconception, text)
    statements = [
        (index, wrong, statement)
        for index, c in enumerate(concepts)
        for wrong, group in ((False, c["phrases"]), (True, c.get("misconceptions") or ()))
        for statement in group
    ]
    fixed = [
        *(demote(reference, words) or reference for reference in references),
        *(statement for _, _, statement in statements),
        *([question] if question.strip() else []),
    ]

    watch = Stopwatch()
    with watch.running():
        answer_vectors = sentence_embeddings_batch(encoder, [text, answer_text or text, *clauses])
        fixed_vectors = _cache.get(encoder, fixed)
        similarities = (fixed_vectors[: len(references)] @ answer_vectors[1]).tolist()
        pieces = answer_vectors[[0, *range(2, 2 + len(clauses))]]
        statement_vectors = fixed_vectors[len(references) : len(references) + len(statements)]
        # rows: statements, columns: the whole answer then each clause
        matrix = (statement_vectors @ pieces.T).tolist() if statements else []
        # how close each piece is to the question itself (what restating the topic earns)
        if question.strip():
            topic = (pieces @ fixed_vectors[-1]).tolist()
        else:
            topic = [-1.0] * pieces.shape[0]

    if not answer_text:  # nothing but the question's own words
        similarities = [0.0] * len(references)
    piece_texts = [text, *clauses]
    against, suspect = _misconceptions(statements, matrix, piece_texts)
    matches = _concept_matches(statements, matrix, topic, suspect, len(concepts))
    found = []
    for index, concept in enumerate(concepts):
        best, focused, row, column = matches[index]
        best_phrase = statements[row][2] if row >= 0 else ""
        best_piece = piece_texts[column] if column >= 0 else ""
        in_words = next((p for p in concept["phrases"] if phrase_in_text(p, text)), "")
        item = {
            "label": concept["label"],
            "similarity": _unit(best),
            "focused": _unit(focused),
            "phrase": best_phrase,
            "clause": best_piece,
            "words": in_words,
        }
        if concept.get("misconceptions"):
            match, statement, piece = against.get(index, (0.0, "", ""))
            item["misconception"] = {
                "similarity": _unit(match),
                "phrase": statement,
                "clause": piece,
            }
        found.append(item)
    return {
        "similarities": [_unit(value) for value in similarities],
        "concepts": found,
        "clauses": clauses,
        "model": model_card(encoder),
        "elapsed_ms": round(watch.elapsed_ms, 3),
    }


def _concept_matches(
    statements: list[tuple[int, bool, str]],
    matrix: list[list[float]],
    topic: list[float],
    suspect: set[tuple[int, int]],
    count: int,
) -> list[tuple[float, float, int, int]]:
    """Per concept ``(similarity, focused, statement row, piece column)``: ``similarity`` is
    the best cosine between one of its phrases and a piece of the answer that says more than
    the question (``TOPIC_MARGIN``) and is not nearer one of its misconceptions (``suspect``),
    with the phrase and piece that gave it (-1 when none); ``focused`` the best such cosine of
    a piece whose best phrase, of any concept, is no more than ``ONE_IDEA_MARGIN`` better
    (-1 when none). One clause states one idea: "Only the last token has seen all of the
    input" is 0.94 from "the last token has seen the whole input" and 0.72 from "only sees the
    tokens before it", a concept it doesn't state; the grader counts a concept present by
    meaning from ``focused``, and gives it partial credit from ``similarity``."""
    pieces = len(matrix[0]) if matrix else 0
    # each piece's best phrase cosine per concept, and over all concepts
    per_concept = [[-1.0] * pieces for _ in range(count)]
    for row, (owner, wrong, _) in enumerate(statements):
        if wrong:
            continue
        for column in range(pieces):
            per_concept[owner][column] = max(per_concept[owner][column], matrix[row][column])
    overall = [max((per_concept[k][c] for k in range(count)), default=-1.0) for c in range(pieces)]
    found = []
    for index in range(count):
        best, focused, where = -1.0, -1.0, (-1, -1)
        for row, (owner, wrong, _) in enumerate(statements):
            if owner != index or wrong:
                continue
            for column, cosine in enumerate(matrix[row]):
                if (index, column) in suspect or cosine < topic[column] + TOPIC_MARGIN:
                    continue
                if cosine > best:
                    best, where = cosine, (row, column)
                if cosine >= overall[column] - ONE_IDEA_MARGIN:
                    focused = max(focused, cosine)
        found.append((best, focused, *where))
    return found


def _misconceptions(
    statements: list[tuple[int, bool, str]],
    matrix: list[list[float]],
    piece_texts: list[str],
) -> tuple[dict[int, tuple[float, str, str]], set[tuple[int, int]]]:
    """For each concept, the best match ``(match, misconception, piece)`` of a piece of the
    answer whose nearest statement is one of the concept's misconceptions (see the module
    docstring); concepts that no piece is nearest to a misconception of are left out.

    Also the pieces that vouch for no concept they seem to contradict: ``(concept, piece
    index)`` for each piece whose nearest statement of its own polarity is one of the
    concept's misconceptions and matches it at least as well as any phrase of the question
    matches the piece, whatever the phrase's polarity. Such a piece, even when too weak a
    match to count as a contradiction, earns its concept nothing by meaning: "a higher
    temperature cuts off the unlikely words" is near "the most likely words become less
    dominant" by cosine (0.55), but nearer still to "a higher temperature sharpens the
    distribution". (A phrase of the other polarity can still clear a piece: "picks tokens that
    aren't the favourite" has no negated statement to be nearest to, and "rare tokens are
    sampled more" matches it better than any misconception does.)"""
    if not any(wrong for _, wrong, _ in statements):
        return {}, set()
    keys = [content_words(statement) for _, _, statement in statements]
    weight = _rarity(keys)
    polarity = [negated(statement) for _, _, statement in statements]
    found: dict[int, tuple[float, str, str]] = {}
    suspect: set[tuple[int, int]] = set()
    for column, piece in enumerate(piece_texts):
        piece_keys, piece_negated = content_words(piece), negated(piece)
        best, nearest, best_phrase = -2.0, -1, -2.0
        for row, statement_keys in enumerate(keys):
            match = STATEMENT_COSINE_WEIGHT * matrix[row][column] + (
                1 - STATEMENT_COSINE_WEIGHT
            ) * _overlap(piece_keys, statement_keys, weight)
            if not statements[row][1]:
                best_phrase = max(best_phrase, match)
            if polarity[row] == piece_negated and match > best:
                best, nearest = match, row
        if nearest < 0:
            continue
        owner, wrong, statement = statements[nearest]
        if not wrong:
            continue
        if best >= best_phrase:
            suspect.add((owner, column))
        if best > found.get(owner, (-2.0, "", ""))[0]:
            found[owner] = (best, statement, piece)
    return found, suspect


def _rarity(keys: list[frozenset[str]]):
    """Inverse document frequency of a word among the statements: log(1 + N / df)."""
    count = len(keys)
    frequency: dict[str, int] = {}
    for group in keys:
        for key in group:
            frequency[key] = frequency.get(key, 0) + 1

    def weight(key: str) -> float:
        return math.log(1 + count / frequency.get(key, 0.5))

    return weight


def _overlap(a: frozenset[str], b: frozenset[str], weight) -> float:
    """Dice overlap of two sets of content words, each word weighted by ``weight``."""
    if not a or not b:
        return 0.0
    shared = sum(weight(key) for key in a & b)
    return 2 * shared / (sum(weight(key) for key in a) + sum(weight(key) for key in b))


def _unit(value: float) -> float:
    return round(max(-1.0, min(1.0, float(value))), 6)
