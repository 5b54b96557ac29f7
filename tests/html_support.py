"""HTML helpers shared by tests of different apps."""

from __future__ import annotations

import re

_CSRF_TOKEN = re.compile(r"\b[A-Za-z0-9]{64}\b")


def without_csrf_tokens(html: str) -> str:
    """``html`` with every CSRF token (in forms and in hx-headers) replaced by ``T``: Django
    masks the token afresh for every use, so two renders of one page differ only there."""
    return _CSRF_TOKEN.sub("T", html)
