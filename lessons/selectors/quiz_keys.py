"""The questions a quiz submit is checked and graded against, kept in each web process.

A submit needs every active question of the quiz with its choices (which are right),
accepted short answers in every language, and what the free-text grader is sent (reference
answers, key concepts): six queries, the most expensive part of a submit by far. They change
only when staff edit the course (the admin, ``load_course``, a translation load), so each
process keeps them, keyed on a **content version** shared by every process in the cache
(Redis):

- a save or delete of a quiz, question, choice, accepted answer, reference answer, key
  concept or question translation, in any process that has the lessons app loaded
  (``lessons.page_cache`` connects the receiver, and the app's ``ready()`` imports it),
  drops what that process kept at once and sets a new version once its transaction
  commits; every process reads the version before the questions, so rows read before the
  commit are never kept under the version written after it, and after an edit's commit
  the next submit anywhere grades against the edited key;
- the version lives in the cache with no expiry; when it is missing (a flushed cache) a
  new one is made, which only costs each process one reload;
- with the cache unreachable nothing is kept: each submit reads the questions from the
  database, as it did before this module;
- whatever happens to the version, nothing is kept longer than ``MAX_AGE_SECONDS``: an
  edit whose version bump failed (the cache down at that moment) is picked up then.

The kept questions are shared between requests and threads: read them, never change them.
:func:`lessons.translations.localize_questions` changes questions in place (prompts and
choices in the request's language), so a page that shows questions reads its own with
:func:`lessons.selectors.quizzes.quiz_active_questions`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ..models import Question, QuestionTranslation
from .quizzes import active_questions

logger = logging.getLogger(__name__)

VERSION_KEY = "lessons:quiz-keys-version"
MAX_AGE_SECONDS = 300.0
MAX_ENTRIES = 64
# What grading reads (lessons.services, lessons.grading, lessons.free_text's task kwargs).
KEY_MODELS = frozenset(
    {
        "Quiz",
        "Question",
        "Choice",
        "AcceptedAnswer",
        "ReferenceAnswer",
        "KeyConcept",
        "QuestionTranslation",
    }
)

_lock = threading.Lock()
_kept: OrderedDict[tuple[int, str], tuple[float, list[Question]]] = OrderedDict()


def _load(quiz_id: int) -> list[Question]:
    # each language's accepted answers, without the translated lesson's body
    accepted = QuestionTranslation.objects.only("id", "question_id", "translation_id", "accepted")
    return list(active_questions(quiz_id=quiz_id, translations=accepted))


def _shared_version() -> str | None:
    """The content version every process agrees on, or None when the cache can't say."""
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, secrets.token_hex(8), timeout=None)
            version = cache.get(VERSION_KEY)
    except Exception as exc:  # the cache (Redis) is down: read from the database
        logger.warning("Quiz keys read from the database: the cache is unreachable (%s)", exc)
        return None
    return version if isinstance(version, str) else None


def quiz_questions_for_grading(*, quiz_id: int) -> list[Question]:
    """The quiz's active questions in authored order, with their choices, accepted answers
    (``translations`` carry each language's), reference answers and key concepts: kept
    while the course is unchanged. Read-only: shared with other requests (see the module)."""
    version = _shared_version()
    if version is None:
        return _load(quiz_id)
    key = (quiz_id, version)
    now = time.monotonic()
    with _lock:
        found = _kept.get(key)
        if found is not None and now - found[0] < MAX_AGE_SECONDS:
            _kept.move_to_end(key)
            return found[1]
    questions = _load(quiz_id)
    with _lock:
        _kept[key] = (now, questions)
        _kept.move_to_end(key)
        while len(_kept) > MAX_ENTRIES:
            _kept.popitem(last=False)
    return questions


def _bump() -> None:
    try:
        cache.set(VERSION_KEY, secrets.token_hex(8), timeout=None)
    except Exception as exc:  # kept copies elsewhere expire within MAX_AGE_SECONDS
        logger.warning("Could not publish a new quiz keys version (%s)", exc)


def quiz_keys_changed() -> None:
    """Forget the kept questions here now, and make every process reload them once the
    current transaction (if any) commits."""
    with _lock:
        _kept.clear()
    transaction.on_commit(_bump)  # at once outside a transaction


@receiver(post_save, dispatch_uid="lessons.quiz_keys.saved")
@receiver(post_delete, dispatch_uid="lessons.quiz_keys.deleted")
def _content_changed(sender, **kwargs) -> None:
    if sender._meta.app_label == "lessons" and sender.__name__ in KEY_MODELS:
        quiz_keys_changed()
