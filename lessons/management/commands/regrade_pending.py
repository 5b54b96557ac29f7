"""`manage.py regrade_pending`: apply finished free-text grades and re-queue lost ones.

The pages of a learner waiting for a grade already do this for their own answers; run this
from cron (every few minutes) so answers nobody is looking at are settled too, and after an
outage. ``--failed`` also sends answers the grader gave up on back to it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lessons.free_text import free_text_regrade_failed
from lessons.free_text_reads import pending_answers
from lessons.free_text_sweep import free_text_sweep
from lessons.models import Answer


class Command(BaseCommand):
    help = "Record finished free-text grades and re-queue grading tasks that were lost."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="only answers queued at least this long ago (default: all pending)",
        )
        parser.add_argument(
            "--failed",
            action="store_true",
            help="also re-queue answers that could not be graded (and aren't reviewed)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["failed"]:
            failed = Answer.objects.filter(
                grading_status=Answer.GradingStatus.FAILED, reviewed_at__isnull=True
            )
            count = free_text_regrade_failed(answers=list(failed))
            self.stdout.write(f"Re-queued {count} answer(s) that had failed.")
        answers = list(pending_answers(older_than_s=options["older_than"]))
        report = free_text_sweep(answers=answers)
        if report.unavailable:
            self.stderr.write("Redis is unavailable: nothing could be checked. Try again later.")
        self.stdout.write(
            f"{len(answers)} pending: {len(report.graded)} graded, {len(report.requeued)} "
            f"re-queued, {len(report.failed)} failed, {len(report.waiting)} still waiting"
            + (" (no grading worker is up)" if report.no_worker and report.waiting else "")
            + "."
        )
