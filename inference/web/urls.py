from __future__ import annotations

from django.urls import path

from inference.web import api_views, event_views, views, widget_views

app_name = "inference"

urlpatterns = [
    path("", views.demo_index, name="demo-index"),
    path("", views.demo_index, name="playground"),
    path("status/", views.status, name="status"),
    path("training/", widget_views.training, name="training"),
    path("examples/<str:example_id>/", widget_views.example, name="example"),
    path(
        "examples/<str:example_id>/reshape/",
        widget_views.example_reshape,
        name="example-reshape",
    ),
    path(
        "examples/<str:example_id>/attention/",
        widget_views.example_attention,
        name="example-attention",
    ),
    path("generate/compare/", widget_views.generate_compare, name="generate-compare"),
    path("api/results/<str:task_id>/", api_views.api_result, name="api-result"),
    path("api/<slug:kind>/", api_views.api_submit, name="api-submit"),
    path("results/<str:task_id>/", views.demo_result, name="demo-result"),
    path("results/<str:task_id>/poll/", views.demo_poll, name="demo-poll"),
    path("results/<str:task_id>/events", event_views.demo_events, name="demo-events"),
    path("results/<str:task_id>/stream", event_views.demo_stream, name="demo-stream"),
    path(
        "results/<str:task_id>/attention/",
        widget_views.attention_view,
        name="attention-view",
    ),
    path(
        "next-token/<str:task_id>/reshape/",
        views.next_token_reshape,
        name="next-token-reshape",
    ),
    # One URL per demo: GET shows the form (demo-form), POST runs it (demo-submit).
    path("<slug:kind>/", views.demo, name="demo-form"),
    path("<slug:kind>/", views.demo, name="demo-submit"),
]
