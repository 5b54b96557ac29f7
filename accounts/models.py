"""What an account remembers beyond Django's user: the language the learner reads in."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LearnerSettings(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learner_settings"
    )
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.language}"
