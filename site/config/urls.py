from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from accounts import language_views
from config import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # The language switcher: remembers the choice and goes to the same page in it
    path("language/", language_views.set_language, name="set-language"),
]
# Every page in both languages: English without a prefix, Chinese under /zh-hans/
urlpatterns += i18n_patterns(
    path("accounts/", include("accounts.urls", namespace="accounts")),
    path("demos/", include("inference.web.urls", namespace="inference")),
    path("", include("lessons.urls", namespace="lessons")),
    prefix_default_language=False,
)

# A database outage answers 503 with a clear page instead of a bare 500, and the JSON API
# gets its errors as JSON (config.error_views).
handler400 = "config.error_views.bad_request"
handler404 = "config.error_views.page_not_found"
handler500 = "config.error_views.server_error"
