"""`manage.py calibrate_free_text`: how often does the automatic free-text grade agree with
the staff labels, and which threshold would agree most?

Runs the sentence encoder in this process (the one the embeddings demo uses: the active
profile's ``encoder`` role, all-MiniLM-L6-v2 in the ``demo`` and ``full`` profiles) over each
question's labelled examples and reviewed answers (the *tuning* set, which the suggested
threshold is searched on) and over its *held-out* answers (``lessons/heldout/free_text.yaml``,
never searched on), prints both agreements, per question and overall, with the answers
labelled correct that fall below the quiz's pass mark and the answers contradicting a key
idea that reach it, and stores the report (admin: Lessons › Calibration runs). ``--apply``
also sets the suggested threshold on the question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference import facade
from lessons.calibration import (
    HELDOUT_FILE,
    HeldOutError,
    LabelledExample,
    ScoredExample,
    calibration_examples,
    calibration_run_save,
    heldout_examples,
    heldout_file_read,
)
from lessons.grading import passes, percent_label
from lessons.models import Question

LABELS = ("correct", "partial", "wrong")
CHECKS = ("correct_below_pass", "contradictions_passing", "wrong_passing", "needs_review")


class Command(BaseCommand):
    help = (
        "Measure how often the automatic grade of explain-in-your-words questions agrees "
        "with the labelled examples (and staff reviews) and with held-out answers, and "
        "suggest a threshold."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--question",
            action="append",
            default=[],
            metavar="KEY",
            help="only this question (by key; repeat for several). Default: every "
            "free-text question that has labelled examples or held-out answers.",
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
        parser.add_argument(
            "--heldout",
            type=Path,
            default=HELDOUT_FILE,
            metavar="PATH",
            help="the held-out answers (default: lessons/heldout/free_text.yaml)",
        )
        parser.add_argument(
            "--no-heldout", action="store_true", help="don't grade the held-out answers"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        questions = (
            Question.objects.filter(kind=Question.Kind.FREE_TEXT, is_active=True)
            .select_related("quiz__lesson")
            .prefetch_related("reference_answers", "key_concepts")
        )
        if options["question"]:
            questions = questions.filter(key__in=options["question"])
            missing = set(options["question"]) - set(questions.values_list("key", flat=True))
            if missing:
                raise CommandError(
                    f"No active explain-in-your-words question with key(s): "
                    f"{', '.join(sorted(missing))}"
                )
        heldout_file: dict = {}
        if not options["no_heldout"]:
            try:
                heldout_file = heldout_file_read(options["heldout"])
            except HeldOutError as exc:
                raise CommandError(str(exc)) from exc
        work = []
        for question in questions.order_by("quiz__lesson__order", "order", "id"):
            examples = calibration_examples(question=question, reviews=not options["no_reviews"])
            heldout, dropped = heldout_examples(question=question, heldout=heldout_file)
            for answer in dropped:
                self.stderr.write(
                    f"{question.key}: held-out answer is also a tuning example, left out: "
                    f"{answer.text[:60]}"
                )
            if examples:
                work.append((question, examples, heldout))
            elif options["question"]:
                raise CommandError(f"{question.key}: no labelled examples to calibrate with.")
        if not work:
            self.stdout.write("No explain-in-your-words question has labelled examples yet.")
            return

        encoder = self._encoder(options.get("profile"))

        totals = {"tuning": [0, 0], "heldout": [0, 0]}
        batches: dict[str, list[int]] = {}  # held out, by the batch it was written in
        checks = {"tuning": dict.fromkeys(CHECKS, 0), "heldout": dict.fromkeys(CHECKS, 0)}
        for question, examples, heldout in work:
            references = [ref.text for ref in question.reference_answers.all()]
            if not references:
                self.stderr.write(f"{question.key}: no reference answers; skipped.")
                continue
            concepts = [_concept(c) for c in question.key_concepts.all()]

            task = {"references": references, "concepts": concepts, "question": question.prompt}
            run = calibration_run_save(
                question=question,
                scored=_scored(encoder, examples, task),
                model_name=encoder.spec.name,
                apply=options["apply"],
                heldout=_scored(encoder, heldout, task),
            )
            self._report(question, run, verbosity=options["verbosity"])
            for name, part in (("tuning", run.report), ("heldout", run.report.get("heldout"))):
                if not part:
                    continue
                rows = part["rows"]
                totals[name][0] += sum(1 for row in rows if row["staff"] == row["auto"])
                totals[name][1] += len(rows)
                for key in CHECKS:
                    checks[name][key] += part["checks"][key]
                if name == "heldout":
                    for row in rows:
                        batch = batches.setdefault(row.get("written", ""), [0, 0, 0, 0])
                        batch[0] += row["staff"] == row["auto"]
                        batch[1] += 1
                        batch[2] += row["staff"] == "correct" and not passes(
                            row["score"], run.report["pass_mark"]
                        )
                        batch[3] += bool(row.get("contradicts")) and passes(
                            row["score"], run.report["pass_mark"]
                        )
        self._overall(totals, checks)
        self._batches(batches)

    def _encoder(self, profile: str | None):
        try:
            return facade.load_encoder(profile)
        except Exception as exc:  # a missing or broken model folder, a bad profile: say so
            raise CommandError(f"Could not load the sentence encoder: {exc}") from exc

    def _report(self, question: Question, run, *, verbosity: int) -> None:
        self.stdout.write(
            f"{question.key}: {run.examples} examples, agreement "
            f"{percent_label(run.agreement)} at threshold {run.threshold:.2f}; suggested "
            f"threshold {run.suggested_threshold:.2f} ({percent_label(run.suggested_agreement)})"
            + (" [applied]" if run.applied else "")
        )
        self._table(run.report, verbosity=verbosity)
        heldout = run.report.get("heldout")
        if heldout:
            found = heldout["checks"]
            self.stdout.write(
                f"  held out: {heldout['examples']} answers, agreement "
                f"{percent_label(heldout['agreement'])} at threshold {run.threshold:.2f}; "
                f"correct below the pass mark {found['correct_below_pass']}, contradictions "
                f"passing {found['contradictions_passing']}, sent to review "
                f"{found['needs_review']}"
            )
            self._table(heldout, verbosity=verbosity)

    def _table(self, part: dict, *, verbosity: int) -> None:
        counts = {(c["staff"], c["auto"]): c["count"] for c in part["confusion"]}
        header = "    staff \\ auto " + "".join(f"{label:>9}" for label in LABELS)
        self.stdout.write(header)
        for staff in LABELS:
            line = "".join(f"{counts.get((staff, auto), 0):>9}" for auto in LABELS)
            self.stdout.write(f"    {staff:<13}{line}")
        if verbosity >= 2:
            for row in part["rows"]:
                mark = " " if row["staff"] == row["auto"] else "✗"
                flag = " [contradicts " + "; ".join(row["contradicted"]) + "]"
                self.stdout.write(
                    f"  {mark} {row['staff']:<8} → {row['auto']:<8} score {row['score']:.2f} "
                    f"sim {row['similarity']:.3f} cover {row['coverage']:.2f}  "
                    f"{row['text'][:70]}" + (flag if row.get("contradicted") else "")
                )

    def _batches(self, batches: dict[str, list[int]]) -> None:
        """Held-out agreement by the batch each answer was written in (its ``written`` key),
        when the file names batches: the answers written after the method was last frozen
        are the fairest test of it, the older ones have been looked at while it was built."""
        if set(batches) <= {""}:
            return
        self.stdout.write("Held out by when it was written:")
        for name, (agree, count, low, passing) in batches.items():
            share = percent_label(agree / count if count else 0.0)
            self.stdout.write(
                f"  {name or 'first answers'}: {agree}/{count} ({share}), {low} labelled "
                f"correct below the pass mark, {passing} contradicting a key idea that pass"
            )

    def _overall(self, totals: dict, checks: dict) -> None:
        def share(name: str) -> str:
            agree, count = totals[name]
            return f"{agree}/{count} ({percent_label(agree / count if count else 0.0)})"

        self.stdout.write(
            f"Overall: tuning agreement {share('tuning')}, held-out agreement {share('heldout')}."
        )
        for name, title in (("tuning", "Tuning"), ("heldout", "Held out")):
            found = checks[name]
            self.stdout.write(
                f"{title}: {found['correct_below_pass']} labelled correct below the pass mark, "
                f"{found['contradictions_passing']} contradicting a key idea that pass, "
                f"{found['wrong_passing']} labelled wrong that pass, "
                f"{found['needs_review']} sent to review as contradictions."
            )


def _concept(concept: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"label": concept.label, "phrases": list(concept.phrases)}
    if concept.misconceptions:
        data["misconceptions"] = list(concept.misconceptions)
    return data


def _scored(encoder: Any, answers: list[LabelledExample], task: dict) -> list[ScoredExample]:
    """Each answer with the grading task's result for it, computed in this process."""
    return [
        ScoredExample(example=answer, result=facade.similarities(encoder, text=answer.text, **task))
        for answer in answers
    ]
