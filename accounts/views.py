"""Account pages Django doesn't ship: sign up (then log in), a throttled password reset, and
a logout confirmation page.

Everything else (log in, log out, password change, the reset link's pages) is
``django.contrib.auth.views`` wired in ``accounts.urls``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LogoutView
from django.contrib.auth.views import PasswordResetView as DjangoPasswordResetView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from .client import client_ip
from .forms import SignUpForm
from .notices import send_signup_notice
from .throttling import (
    login_lockout_remaining,
    minutes_label,
    password_reset_mail_allowed,
    password_reset_wait_seconds,
    signup_wait_seconds,
)

# Sign-up logs in with the model backend whatever else AUTHENTICATION_BACKENDS lists
# (e.g. django-axes, which needs a request-bound authenticate() and not this login).
SIGNUP_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _too_many(
    request: HttpRequest, template: str, context: dict[str, Any], wait: int
) -> HttpResponse:
    """``template`` again as a 429 that says how many minutes to wait (``throttled_minutes``),
    with ``Retry-After``."""
    minutes = max(1, -(-wait // 60))
    response = render(request, template, {**context, "throttled_minutes": minutes}, status=429)
    response["Retry-After"] = str(wait)
    return response


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and log straight in; anonymous progress moves into it on login.

    An email address that already has an account gets exactly the same answer as a new one
    (the account is created, without the address); its owner is told by mail instead."""
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and (wait := signup_wait_seconds(ip=client_ip(request))):
        typed = {
            "username": request.POST.get("username", "")[:150],
            "email": request.POST.get("email", "")[:254],
        }
        context = {"form": SignUpForm(initial=typed), "next": next_url}
        return _too_many(request, "registration/signup.html", context, wait)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if form.address_owner is not None:
            send_signup_notice(request, owner=form.address_owner)
        login(request, user, backend=SIGNUP_BACKEND)
        messages.success(
            request,
            _("Welcome, %(name)s! Your account is ready.") % {"name": user.get_username()},
        )
        return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    status = 400 if request.method == "POST" else 200
    return render(
        request, "registration/signup.html", {"form": form, "next": next_url}, status=status
    )


class PasswordResetView(DjangoPasswordResetView):
    """Django's password reset, throttled twice so nobody can use it to flood a mailbox.

    Per client address (``PASSWORD_RESET_RATE_LIMIT_IP``, every POST counts): over it, the
    form again as a 429 saying how long to wait. Per target address
    (``PASSWORD_RESET_RATE_LIMIT_EMAIL``, every valid request counts, whether an account
    uses the address or not): over it, the usual "check your email" page and no mail, so
    the answer reveals nothing about the address or the limit.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if wait := password_reset_wait_seconds(ip=client_ip(request)):
            form = self.form_class(initial={"email": request.POST.get("email", "")[:254]})
            return _too_many(request, self.template_name, self.get_context_data(form=form), wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        if not password_reset_mail_allowed(email=form.cleaned_data["email"]):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


def account_locked(
    request: HttpRequest, response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' lockout page (``AXES_LOCKOUT_CALLABLE``): 429, and how long to wait."""
    username = str((credentials or {}).get("username") or request.POST.get("username") or "")
    remaining = login_lockout_remaining(username=username[:150], ip=client_ip(request))
    minutes = minutes_label(remaining)
    locked = render(
        request,
        "registration/account_locked.html",
        {"minutes": minutes, "username": username[:150]},
        status=429,
    )
    locked["Retry-After"] = str(minutes * 60)
    return locked


class ConfirmLogoutView(LogoutView):
    """Log out by POST (Django's view); a GET shows a page with the logout button."""

    http_method_names = ["get", "post", "options"]
    template_name = "registration/account_logout_confirm.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return render(request, self.template_name, {"next": _safe_next(request)})
