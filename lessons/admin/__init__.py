"""Admin for the course: lessons, quizzes and questions with history and revert.

Lesson, Quiz and Question use django-simple-history's ``SimpleHistoryAdmin``
(``history.LineDiffHistoryAdmin``): the History button lists who changed what, a text
field's change as a line diff, and a version can be reverted. A lesson's body edits beside
a live preview of the page learners get (``preview.py``). Every save
of a lesson (including a revert, which goes through ``save_model``) re-renders its
HTML with ``lessons.services.lesson_render``. Attempts are read-only here. Each lesson's
translations edit the same way (``translations.py``).
"""

from .course import CourseAdmin, LessonAdmin
from .grading import AttemptAdmin, CalibrationRunAdmin
from .questions import QuestionAdmin, QuizAdmin
from .translations import LessonTranslationAdmin

__all__ = [
    "AttemptAdmin",
    "CalibrationRunAdmin",
    "CourseAdmin",
    "LessonAdmin",
    "LessonTranslationAdmin",
    "QuestionAdmin",
    "QuizAdmin",
]
