"""`manage.py calibrate_free_text`: how often does the automatic free-text grade agree with
the staff labels, and which threshold would agree most?

Runs the sentence encoder in this process (the one the embeddings demo uses: the active
profile's ``encoder`` role, all-MiniLM-L6-v2 in the ``demo`` and ``full`` profiles) over each
question's labelled examples and reviewed answers, prints the agreement and the suggested
threshold, and stores the report (admin: Lessons › Calibration runs). ``--apply`` also sets
the suggested threshold on the question.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference import facade
from lessons.calibration import (
    ScoredExample,
    calibration_examples,
    calibration_run_save,
)
from lessons.grading import percent_label
from lessons.models import Question

LABELS = ("correct", "partial", "wrong")


class Command(BaseCommand):
    help = (
        "Measure how often the automatic grade of explain-in-your-words questions agrees "
        "with the labelled examples (and staff reviews), and suggest a threshold."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--question",
            action="append",
            default=[],
            metavar="KEY",
            help="only this question (by key; repeat for several). Default: every "
            "free-text question that has labelled examples.",
        )
        parser.add_argument(
            "--profile",
            help="the inference profile whose encoder to use (default: the active one)",
        )
        parser.add_argument(
            "--apply", action="store_true", help="set each question's suggested threshold"
        )
        parser.add_argument(
            "--no-reviews",
            action="store_true",
            help="use only the authored examples, not instructors' reviews",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        questions = Question.objects.filter(
            kind=Question.Kind.FREE_TEXT, is_active=True
        ).prefetch_related("reference_answers", "key_concepts")
        if options["question"]:
            questions = questions.filter(key__in=options["question"])
            missing = set(options["question"]) - set(questions.values_list("key", flat=True))
            if missing:
                raise CommandError(
                    f"No active explain-in-your-words question with key(s): "
                    f"{', '.join(sorted(missing))}"
                )
        work = []
        for question in questions.order_by("quiz__lesson__order", "order", "id"):
            examples = calibration_examples(question=question, reviews=not options["no_reviews"])
            if examples:
                work.append((question, examples))
            elif options["question"]:
                raise CommandError(f"{question.key}: no labelled examples to calibrate with.")
        if not work:
            self.stdout.write("No explain-in-your-words question has labelled examples yet.")
            return

        encoder = self._encoder(options.get("profile"))

        for question, examples in work:
            references = [ref.text for ref in question.reference_answers.all()]
            if not references:
                self.stderr.write(f"{question.key}: no reference answers; skipped.")
                continue
            concepts = [
                {"label": c.label, "phrases": list(c.phrases)} for c in question.key_concepts.all()
            ]
            scored = [
                ScoredExample(
                    example=example,
                    result=facade.similarities(
                        encoder,
                        text=example.text,
                        references=references,
                        concepts=concepts,
                        question=question.prompt,
                    ),
                )
                for example in examples
            ]
            run = calibration_run_save(
                question=question,
                scored=scored,
                model_name=encoder.spec.name,
                apply=options["apply"],
            )
            self._report(question, run, verbosity=options["verbosity"])

    def _encoder(self, profile: str | None):
        try:
            return facade.load_encoder(profile)
        except Exception as exc:  # a missing or broken model folder, a bad profile: say so
            raise CommandError(f"Could not load the sentence encoder: {exc}") from exc

    def _report(self, question: Question, run, *, verbosity: int) -> None:
        rows = run.report["rows"]
        self.stdout.write(
            f"{question.key}: {run.examples} examples, agreement "
            f"{percent_label(run.agreement)} at threshold {run.threshold:.2f}; suggested "
            f"threshold {run.suggested_threshold:.2f} ({percent_label(run.suggested_agreement)})"
            + (" [applied]" if run.applied else "")
        )
        counts = {(c["staff"], c["auto"]): c["count"] for c in run.report["confusion"]}
        header = "    staff \\ auto " + "".join(f"{label:>9}" for label in LABELS)
        self.stdout.write(header)
        for staff in LABELS:
            line = "".join(f"{counts.get((staff, auto), 0):>9}" for auto in LABELS)
            self.stdout.write(f"    {staff:<13}{line}")
        if verbosity >= 2:
            for row in rows:
                mark = " " if row["staff"] == row["auto"] else "✗"
                self.stdout.write(
                    f"  {mark} {row['staff']:<8} → {row['auto']:<8} score {row['score']:.2f} "
                    f"sim {row['similarity']:.3f} cover {row['coverage']:.2f}  "
                    f"{row['text'][:70]}"
                )
