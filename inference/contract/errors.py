"""Why a demo request can't be served: each carries a sentence for the learner.

(Bad input is :class:`inference.contract.validation.DemoInputError`, shared with the worker.)
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

# English, as stored in a task's events; shown translated (gettext at display time).
SERVICE_DOWN = gettext_noop(
    "The demo service is temporarily unavailable. Lessons and quizzes still work."
)


class DemoUnavailable(Exception):
    """Redis, the broker or every model worker is missing: HTTP 503."""

    def __init__(self, message: str | None = None, *, reason: str = "service") -> None:
        # The learner's sentence in the language active now (a request's); never stored.
        message = gettext(SERVICE_DOWN) if message is None else message
        super().__init__(message)
        self.message = message
        # "service" (Redis/broker down), "no_worker", "starting", "preparing" (models building)
        self.reason = reason


class DemoRateLimited(Exception):
    """Too many demo runs from this learner or address: HTTP 429."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class DemoNotFound(Exception):
    """The result expired (results live ``DEMO_RESULT_TTL`` seconds) or never existed: 404."""

    message = gettext_noop(
        "This result has expired or never existed. Run the demo again to get a new one."
    )

    def __init__(self, message: str | None = None) -> None:
        message = message or gettext(type(self).message)
        super().__init__(message)
        self.message = message
