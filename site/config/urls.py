from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from config import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("lessons.accounts_urls", namespace="accounts")),
    path("demos/", include("inference.urls", namespace="inference")),
    path("", include("lessons.urls", namespace="lessons")),
]
