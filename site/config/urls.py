from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("lessons.accounts_urls", namespace="accounts")),
    path("demos/", include("inference.urls", namespace="inference")),
    path("", include("lessons.urls", namespace="lessons")),
]
