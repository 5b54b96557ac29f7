"""Accounts at /accounts/: sign up, log in/out, password change and reset (Django's views;
the reset request throttled, ``accounts.views.PasswordResetView``).

Templates have ``account_`` names under ``registration/`` because the admin
ships its own ``registration/password_*.html`` and comes first in INSTALLED_APPS.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views as accounts_views

app_name = "accounts"

urlpatterns = [
    path("signup/", accounts_views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", accounts_views.ConfirmLogoutView.as_view(), name="logout"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(
            template_name="registration/account_password_change_form.html",
            success_url=reverse_lazy("accounts:password-change-done"),
        ),
        name="password-change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="registration/account_password_change_done.html"
        ),
        name="password-change-done",
    ),
    path(
        "password/reset/",
        accounts_views.PasswordResetView.as_view(
            template_name="registration/account_password_reset_form.html",
            email_template_name="registration/account_password_reset_email.txt",
            subject_template_name="registration/account_password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password-reset-done"),
        ),
        name="password-reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="registration/account_password_reset_done.html"
        ),
        name="password-reset-done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/account_password_reset_confirm.html",
            success_url=reverse_lazy("accounts:password-reset-complete"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registration/account_password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
]
