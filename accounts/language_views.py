"""The language switcher and the remembered choice.

English pages have no prefix and Chinese ones live under ``/zh-hans/`` (config.urls), so a
URL always says its language. Choosing a language (``POST /language/`` from the switcher on
every page) stores it in the language cookie, and on the account when signed in, then goes to
the same page in that language. ``PreferredLanguageMiddleware`` sends a browser that opens an
unprefixed (English) page to its remembered language when that isn't English; an address
with a language prefix always wins.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import translate_url
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language_from_path
from django.views.decorators.http import require_POST

SESSION_KEY = "language"


def _known(code: str | None) -> str | None:
    return code if code in dict(settings.LANGUAGES) else None


def preferred_language(request: HttpRequest) -> str | None:
    """The learner's remembered choice: the session's (from the account) or the cookie's."""
    session = getattr(request, "session", None)
    chosen = session.get(SESSION_KEY) if session is not None else None
    return _known(chosen) or _known(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))


def _remember(response: HttpResponse, request: HttpRequest, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from .models import LearnerSettings

        LearnerSettings.objects.update_or_create(user=user, defaults={"language": language})
        request.session[SESSION_KEY] = language


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Remember the chosen language and show the page the learner was on in it."""
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    language = _known(request.POST.get("language"))
    if language is None:
        return HttpResponseRedirect(next_url)  # an unknown language changes nothing
    # resolve `next` in its own language (its prefix says which), then reverse it in the new one
    with translation.override(get_language_from_path(next_url) or settings.LANGUAGE_CODE):
        target = translate_url(next_url, language)
    response = HttpResponseRedirect(target)
    _remember(response, request, language)
    return response


@receiver(user_logged_in, dispatch_uid="accounts.remembered_language")
def _language_on_login(sender, request, user, **kwargs) -> None:
    """Signing in brings back the language the learner chose on their account."""
    from .models import LearnerSettings

    if request is None:
        return
    saved = LearnerSettings.objects.filter(user=user).values_list("language", flat=True).first()
    if saved:
        request.session[SESSION_KEY] = saved


class PreferredLanguageMiddleware:
    """A page opened without a language prefix goes to the learner's remembered language
    (browser navigations only: htmx requests, forms and API calls are answered as asked)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method == "GET"
            and "text/html" in request.headers.get("Accept", "")
            and not request.headers.get("HX-Request")
            and get_language_from_path(request.path_info) is None
        ):
            wanted = preferred_language(request)
            if wanted and wanted != settings.LANGUAGE_CODE:
                target = translate_url(request.get_full_path(), wanted)
                if target != request.get_full_path():
                    response = HttpResponseRedirect(target)
                    response.headers["Vary"] = "Cookie"
                    return response
        return self.get_response(request)
