from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Lesson


def home(request: HttpRequest) -> HttpResponse:
    lessons = Lesson.objects.select_related("course").order_by("order")
    return render(request, "lessons/home.html", {"lessons": lessons})
