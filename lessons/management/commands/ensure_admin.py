"""Create a local admin account on first run and print its one-time password."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the local 'admin' superuser if no superuser exists, and print its password."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "Admin: an admin account exists; sign in at http://127.0.0.1:8000/admin/ "
                f"(forgot it? `manage.py changepassword {username}`)."
            )
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created admin account '{username}' with one-time password: {password}\n"
                "Sign in at http://127.0.0.1:8000/admin/ and change it "
                "(it is shown only this once)."
            )
        )
