from __future__ import annotations

from django.urls import path

from . import (
    attempt_views,
    gradebook_views,
    page_views,
    progress_views,
    quiz_views,
    review_views,
    views,
)

app_name = "lessons"

urlpatterns = [
    path("", views.home, name="home"),
    path("lessons/<slug:slug>/", views.lesson_detail, name="lesson-detail"),
    path("lessons/<slug:slug>/read/", views.lesson_mark_read_view, name="lesson-mark-read"),
    # Quizzes, attempts, progress and the staff gradebook (quiz work)
    path("lessons/<slug:slug>/quiz/", quiz_views.quiz_detail, name="quiz-detail"),
    # The first answer on a quiz page starts the attempt (the page itself writes nothing)
    path(
        "lessons/<slug:slug>/quiz/submit/", quiz_views.quiz_start_submit, name="quiz-start-submit"
    ),
    path(
        "lessons/<slug:slug>/quiz/questions/<int:question_id>/check/",
        quiz_views.quiz_start_check,
        name="quiz-start-check",
    ),
    path("attempts/<uuid:token>/", attempt_views.attempt_detail, name="attempt-detail"),
    path("attempts/<uuid:token>/submit/", quiz_views.quiz_submit, name="quiz-submit"),
    path(
        "attempts/<uuid:token>/questions/<int:question_id>/check/",
        quiz_views.question_check_view,
        name="question-check",
    ),
    path(
        "attempts/<uuid:token>/questions/<int:question_id>/feedback/",
        attempt_views.answer_feedback,
        name="answer-feedback",
    ),
    path("progress/", progress_views.progress, name="progress"),
    path("interview/", page_views.interview, name="interview"),
    path("staff/gradebook/", gradebook_views.gradebook, name="gradebook"),
    path("staff/gradebook/gradebook.csv", gradebook_views.gradebook_csv, name="gradebook-csv"),
    path("staff/gradebook/attempts.csv", gradebook_views.attempts_csv, name="attempts-csv"),
    path(
        "staff/gradebook/quizzes/<int:quiz_id>/",
        gradebook_views.gradebook_quiz,
        name="gradebook-quiz",
    ),
    # Staff review of explain-in-your-words answers
    path("staff/review/", review_views.review_queue, name="review-queue"),
    path("staff/review/answers/<int:answer_id>/", review_views.answer_review, name="answer-review"),
]
