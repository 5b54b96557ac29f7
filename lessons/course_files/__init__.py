"""The course file format: parse and validate lesson files, and write them back.

Pure functions, no ORM (``lessons.loader`` does the database side). A lesson file
is YAML front matter + a Markdown body::

    ---
    slug: bert
    title: "BERT: a bidirectional encoder"
    section: Models
    order: 3
    duration: 14
    summary: One or two sentences.
    course: bert-vs-gpt
    quiz:
      title: "Check yourself: BERT"
      pass_mark: 70
      attempts_allowed: null        # null = unlimited
      score_policy: best            # best | last | first | average
      reveal_answers: true
      questions:
        - {key: k1, kind: single, prompt: ..., explanation: ..., choices: [{text, correct}]}
        - {key: k2, kind: multiple, partial_credit: true, ...choices}
        - {key: k3, kind: true_false, answer: true, feedback_true: ..., feedback_false: ...}
        - {key: k4, kind: short_text, accepted: ["[CLS]", "CLS"]}
        - key: k5
          kind: free_text               # explain in your words, graded by meaning
          threshold: 0.6                # similarity for full credit (default 0.6)
          margin: 0.2                   # credit reaches 0 this far below it (default 0.2)
          references: ["A model answer.", "Another way to say it."]
          concepts:                     # misconceptions: optional, statements contradicting it
            - {label: "an idea it must contain", phrases: ["in other words", ...],
               misconceptions: ["the opposite, as learners put it", ...]}
          examples: [{label: correct, text: ...}, {label: partial, ...}, {label: wrong, ...}]
    ---
    Markdown body

Everything is normalised into one *canonical* dict (``lesson_canonical_from_file``),
the same shape ``lessons.loader.lesson_canonical`` builds from the database, so
"is the file different from the database?" is a plain ``==``, and the hash of that
dict detects edits made in the admin since the last load. A true/false question is
canonically two choices, "True" then "False" (that is how it is stored); the file
form uses ``answer:`` and export writes it back that way. Only free_text questions carry
the keys ``threshold``, ``margin``, ``references``, ``concepts`` and ``examples`` in the
canonical form, so the hashes of lessons without such questions didn't change when the kind
was added; likewise a concept carries ``misconceptions`` only when it has some.
"""

from .parse import lesson_files, parse_lesson_file, parse_lesson_text
from .schema import (
    DEFAULT_COURSE_SLUG,
    DEFAULT_COURSE_TITLE,
    MAX_FILE_BYTES,
    CourseFileError,
    ParsedLesson,
    canonical_hash,
    normalise_body,
    normalise_text,
)
from .write import lesson_file_name, lesson_file_text

__all__ = [
    "DEFAULT_COURSE_SLUG",
    "DEFAULT_COURSE_TITLE",
    "MAX_FILE_BYTES",
    "CourseFileError",
    "ParsedLesson",
    "canonical_hash",
    "lesson_file_name",
    "lesson_file_text",
    "lesson_files",
    "normalise_body",
    "normalise_text",
    "parse_lesson_file",
    "parse_lesson_text",
]
