"""The sign-up form (Django's own forms serve log-in and the password pages)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


class SignUpForm(UserCreationForm):
    """Username, an optional email (for password resets) and the password twice.

    An email address that another account already uses is accepted like any other: refusing
    it would tell anyone who types an address whether it has an account here. The new
    account is created without it (the address stays the one account's, and nobody proved
    they own it), and :attr:`address_owner` names the account whose owner the view tells by
    mail (``accounts.notices``). Usernames stay unique, with Django's error: they are public.
    """

    email = forms.EmailField(
        label=_("Email"),
        required=False,
        help_text=_("Optional. Only used to reset your password if you forget it."),
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        return self.cleaned_data.get("email", "").strip()

    @cached_property
    def address_owner(self) -> Any | None:
        """The existing account that uses the email typed (any case), or None: a new or
        blank address. Read after ``is_valid()``."""
        email = self.cleaned_data.get("email", "")
        if not email:
            return None
        return get_user_model().objects.filter(email__iexact=email).order_by("pk").first()

    def save(self, commit: bool = True) -> Any:
        """The new account; with the email typed only when no other account uses it."""
        if self.address_owner is not None:
            self.instance.email = ""
        return super().save(commit=commit)
