from __future__ import annotations

app_name = "inference"

urlpatterns: list = []
