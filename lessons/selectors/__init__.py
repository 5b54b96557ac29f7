"""Reads for the lessons app (HackSoftware-style selectors: keyword-only, typed), one module
per concept: ``lessons`` (course pages), ``quizzes`` (attempts, standings, questions),
``quiz_view`` (the quiz page's view of each question), ``quiz_keys`` (the questions and
answer keys a submit grades against, kept between submits), ``progress`` (a learner's progress,
the home page's overview), ``gradebook`` (staff statistics and exports)."""
