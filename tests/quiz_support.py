"""Starting a quiz attempt the way a learner's first answer does.

Reading a quiz page writes nothing: it shows the questions in the order of an unsaved
attempt, and the first Check or Submit starts the attempt with that order. Tests that
need an attempt before they answer read the page, then start the attempt for the same
learner (the test client's user, or its session's anonymous learner id) with the order
the page showed.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.urls import reverse

from lessons.forms import QUIZ_FORM_FIELD
from lessons.learners import SESSION_KEY
from lessons.models import Attempt
from lessons.services import quiz_attempt_open

# What the quiz form sends when nothing is picked: its own hidden field and no answer field
# (radio buttons and checkboxes left alone send nothing).
NOTHING_PICKED = {QUIZ_FORM_FIELD: "1"}


def start_attempt(client, quiz) -> Attempt:
    page = client.get(reverse("lessons:quiz-detail", kwargs={"slug": quiz.lesson.slug}))
    assert page.status_code == 200, page.status_code
    shown = page.context["attempt"]
    session = client.session
    user_id = session.get("_auth_user_id")
    if user_id:
        user, anon_id = get_user_model().objects.get(pk=user_id), ""
    else:
        user, anon_id = None, session.get(SESSION_KEY) or str(uuid.uuid4())
        session[SESSION_KEY] = anon_id
        session.save()
    attempt = quiz_attempt_open(
        quiz=quiz, user=user, anon_id=anon_id, seed=None if shown.pk else shown.shuffle_seed
    )
    assert attempt is not None, "no attempt left"
    return attempt
