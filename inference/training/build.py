"""The whole demo-model build: corpus -> tokenizers -> BERT -> GPT -> eval -> saving.

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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.training import bert as bert_stage
from inference.training import corpus as corpus_mod
from inference.training import gpt as gpt_stage
from inference.training.data import PairBatches, SentencePairs, TextBlocks
from inference.training.loop import BuildInterrupted, LoopSettings, train_loop
from inference.training.recipes import FULL, QUICK
from inference.training.records import ProgressWriter, read_json, write_json_atomic

FORMAT_VERSION = 1


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
    minutes: float = 12.0
    quick: bool = False
    force: bool = False
    seed: int = 0
    threads: int | None = None
    precision: str = "auto"  # auto | float32 | bfloat16 (autocast; weights stay float32)
    stop_after_steps: int | None = None  # test hook: interrupt each training stage there
    log: Callable[[str], None] = field(default=print)
    progress_bars: bool = True


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
            self.log("Building the corpus from installed documentation ...")
            corpus = corpus_mod.build_corpus(
                max_files_per_source=self.recipe.corpus_max_files,
                max_chars=self.recipe.corpus_max_chars,
                on_progress=lambda f: self.progress.update("corpus", f, eta_seconds=self._eta()),
            )
            corpus.save(cache)
        return corpus

    def build_tokenizers(self, train_docs):
        from inference.training.tokenizers import (
            load_tokenizer,
            train_bert_tokenizer,
            train_gpt_tokenizer,
        )

        folders = {
            "bert": self.work / "tokenizers" / "bert",
            "gpt": self.work / "tokenizers" / "gpt",
        }
        if all((f / "tokenizer.json").exists() for f in folders.values()):
            return load_tokenizer(folders["bert"]), load_tokenizer(folders["gpt"])
        with self.stage("tokenizers"):
            self.log("Training the WordPiece (BERT) and byte-level BPE (GPT) tokenizers ...")
            texts = [doc.text for doc in train_docs]
            bert_tok = train_bert_tokenizer(
                texts,
                vocab_size=self.recipe.bert.vocab_size,
                max_length=self.recipe.bert.max_length,
                workdir=self.work / "tokenizers" / "raw-bert",
            )
            gpt_tok = train_gpt_tokenizer(
                texts,
                vocab_size=self.recipe.gpt.vocab_size,
                max_length=self.recipe.gpt.max_length,
                workdir=self.work / "tokenizers" / "raw-gpt",
            )
            bert_tok.save_pretrained(str(folders["bert"]))
            gpt_tok.save_pretrained(str(folders["gpt"]))
        return bert_tok, gpt_tok

    def plan_budgets(self, plan: dict) -> dict:
        if "bert_seconds" not in plan:
            training = self.total_seconds - self._spent() - self.recipe.reserve_seconds
            if training < 30 and not self.options.quick:
                raise BuildError(
                    f"--minutes {self.options.minutes} leaves {training:.0f} s for training; "
                    "give the build more time"
                )
            plan["bert_seconds"] = round(training * self.recipe.bert_share, 1)
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
        return f"{seconds:.0f} s budget"

    def _bar(self, name: str, total: float):
        from tqdm.auto import tqdm

        unit = "step" if self.recipe.max_steps else "s"
        return tqdm(
            total=round(total),
            desc=f"{name:>4}",
            unit=unit,
            disable=not self.options.progress_bars,
            mininterval=1.0,
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} "
            + unit
            + " [{elapsed}<{remaining}{postfix}]",
        )

    def train_model(
        self,
        name: str,
        model,
        step_fn,
        *,
        budget: float,
        batch: int,
        lr: float,
        random_state,
        restore_random_state,
        precision: dict,
    ):
        recipe = self.recipe
        settings = LoopSettings(
            budget_seconds=budget,
            batch_size=batch,
            peak_lr=lr,
            warmup_steps=recipe.warmup_steps,
            max_steps=recipe.max_steps,
            log_every=1 if self.options.quick else 10,
            checkpoint_seconds=recipe.checkpoint_seconds,
            autocast_bf16=precision["autocast_bf16"],
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
                    model=model,
                    step_fn=step_fn,
                    settings=settings,
                    workdir=self.work / name,
                    random_state=random_state,
                    restore_random_state=restore_random_state,
                    on_progress=on_progress,
                    stop_after_steps=self.options.stop_after_steps,
                )
        finally:
            bar.close()
        return settings, result

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
            f"Corpus: {corpus.stats()['chars']:,} characters in {len(corpus.documents):,} documents"
        )
        bert_tok, gpt_tok = self.build_tokenizers(train_docs)
        plan = self.plan_budgets(plan)
        precision = plan["precision"]

        # --- BERT ---
        torch.manual_seed(options.seed)
        bert_model = bert_stage.build_model(recipe.bert, bert_tok)
        specials = bert_stage.special_ids(bert_tok)
        pairs = SentencePairs(
            bert_stage.encode_documents(bert_tok, train_docs),
            max_length=recipe.bert.max_length,
            typical_length=recipe.bert.typical_length,
            special=specials,
        )
        batches = PairBatches(pairs, batch_size=recipe.bert_batch, seed=options.seed)
        generator = torch.Generator().manual_seed(options.seed)
        self.log(
            f"BERT: {bert_model.num_parameters():,} parameters, "
            f"{self._budget_text(plan['bert_seconds'])} ({precision['chosen']})"
        )
        bert_settings, bert_result = self.train_model(
            "bert",
            bert_model,
            bert_stage.make_step(
                bert_model,
                batches,
                tokenizer=bert_tok,
                generator=generator,
                window_schedule=recipe.bert.window_schedule,
            ),
            budget=plan["bert_seconds"],
            batch=recipe.bert_batch,
            lr=recipe.bert_lr,
            random_state=lambda: {"batches": batches.state(), "mask": generator.get_state()},
            restore_random_state=lambda s: (
                batches.restore(s["batches"]),
                generator.set_state(s["mask"]),
            ),
            precision=precision,
        )

        # --- GPT ---
        if "gpt_seconds_final" not in plan:
            # whatever BERT's stage and the data preparation overran (or saved) comes out of
            # (or goes to) GPT's share, so the whole build keeps to --minutes
            elapsed = earlier_runs + (time.time() - wall_start)
            left = self.total_seconds - elapsed - recipe.reserve_seconds
            plan["gpt_seconds_final"] = round(max(left, 0.5 * plan["gpt_seconds"]), 1)
            write_json_atomic(self.work / "plan.json", plan)
        torch.manual_seed(options.seed + 1)
        gpt_model = gpt_stage.build_model(recipe.gpt, gpt_tok)
        blocks = TextBlocks(
            gpt_stage.encode_documents(gpt_tok, train_docs),
            block_size=recipe.gpt.block_size,
            eos_id=gpt_tok.eos_token_id,
            seed=options.seed,
        )
        self.log(
            f"GPT: {gpt_model.num_parameters():,} parameters, "
            f"{self._budget_text(plan['gpt_seconds_final'])}, {blocks.tokens:,} training tokens"
        )
        gpt_settings, gpt_result = self.train_model(
            "gpt",
            gpt_model,
            gpt_stage.make_step(gpt_model, blocks, batch_size=recipe.gpt_batch),
            budget=plan["gpt_seconds_final"],
            batch=recipe.gpt_batch,
            lr=recipe.gpt_lr,
            random_state=lambda: {},
            restore_random_state=lambda s: None,
            precision=precision,
        )

        # --- held-out evaluation (float32, like the CPU worker) ---
        with self.stage("eval"):
            self.log("Evaluating on held-out documents ...")
            held_pairs = SentencePairs(
                bert_stage.encode_documents(bert_tok, held_docs),
                max_length=recipe.bert.max_length,
                typical_length=recipe.bert.typical_length,
                special=specials,
            )
            bert_metrics = bert_stage.evaluate(
                bert_model, held_pairs, tokenizer=bert_tok, examples=recipe.bert_eval_pairs
            )
            self.progress.update("eval", 0.5, eta_seconds=self._eta(), force=True)
            held_blocks = TextBlocks(
                gpt_stage.encode_documents(gpt_tok, held_docs),
                block_size=recipe.gpt.block_size,
                eos_id=gpt_tok.eos_token_id,
                seed=options.seed,
            )
            gpt_metrics = gpt_stage.evaluate(
                gpt_model, held_blocks, max_blocks=recipe.gpt_eval_blocks
            )

        # --- saving: temp folders, samples through the pipelines, then swap in ---
        with self.stage("saving"):
            for leftover in [*self.root.glob(".*.staging-*"), *self.root.glob(".*.old-*")]:
                shutil.rmtree(leftover, ignore_errors=True)  # from a build that died here
            staging = {
                "bert": self.root / f".bert.staging-{os.getpid()}",
                "gpt": self.root / f".gpt.staging-{os.getpid()}",
            }
            with _quiet_transformers():
                bert_model.save_pretrained(str(staging["bert"]))
                bert_tok.save_pretrained(str(staging["bert"]))
                gpt_model.save_pretrained(str(staging["gpt"]))
                gpt_tok.save_pretrained(str(staging["gpt"]))
                for path in staging.values():
                    _make_readable(path)
                bert_samples = bert_stage.fill_mask_samples(staging["bert"])
                gpt_samples = gpt_stage.generation_samples(staging["gpt"])

        record = self._record(
            corpus=corpus,
            plan=plan,
            models={
                "bert": self._model_record(
                    bert_model,
                    bert_tok,
                    bert_settings,
                    bert_result,
                    bert_metrics,
                    bert_samples,
                    cls="BertForPreTraining",
                    tokenizer_kind="WordPiece, uncased (BertTokenizerFast)",
                    tokens_per_example=None,
                    extra={
                        "attention_curriculum": [
                            {"until_progress": until, "window": window}
                            for until, window in recipe.bert.window_schedule
                        ]
                    },
                ),
                "gpt": self._model_record(
                    gpt_model,
                    gpt_tok,
                    gpt_settings,
                    gpt_result,
                    gpt_metrics,
                    gpt_samples,
                    cls="GPT2LMHeadModel",
                    tokenizer_kind="byte-level BPE (GPT2TokenizerFast)",
                    tokens_per_example=recipe.gpt.block_size,
                    extra={"epochs": round(blocks.epochs(gpt_result.steps, recipe.gpt_batch), 3)},
                ),
            },
            wall_this_run=time.time() - wall_start,
        )
        for name, path in staging.items():
            _swap_in(path, self.root / name)
        write_json_atomic(self.root / "training.json", record)
        self._clear_work()
        return record

    def _model_record(
        self,
        model,
        tokenizer,
        settings,
        result,
        metrics,
        samples,
        *,
        cls: str,
        tokenizer_kind: str,
        tokens_per_example: int | None,
        extra: dict | None = None,
    ):
        final = result.curve[-1] if result.curve else {}
        training = {
            "steps": result.steps,
            "elapsed_seconds": round(result.elapsed_seconds, 1),
            "examples_seen": result.examples_seen,
            "resumed_from_step": result.resumed_from_step,
            **(extra or {}),
        }
        if tokens_per_example:
            training["tokens_seen"] = result.examples_seen * tokens_per_example
        return {
            "class": cls,
            "parameters": model.num_parameters(),
            "config": json.loads(model.config.to_json_string(use_diff=True)),
            "tokenizer": {"kind": tokenizer_kind, "vocab_size": len(tokenizer)},
            "hyperparameters": {
                **{k: v for k, v in asdict(settings).items() if k != "budget_seconds"},
                "budget_seconds": settings.budget_seconds,
                "optimizer": "AdamW (eps 1e-6, no decay on biases and LayerNorm)",
                "schedule": "linear warm-up, then cosine decay on progress of the time budget",
            },
            "training": training,
            "final_loss": {k: v for k, v in final.items() if k.endswith("loss")},
            "loss_curve": result.curve,
            "heldout": metrics,
            "samples": samples,
        }

    def _record(self, *, corpus, plan, models, wall_this_run) -> dict:
        import tokenizers
        import torch
        import transformers

        stats = corpus.stats()
        stats.update(
            {
                "holdout_percent": self.recipe.holdout_percent,
                "why": corpus_mod.__doc__.split("\n\n")[1].replace("\n", " "),
                "filters": (
                    "prose paragraphs only (no code, doctests, indented blocks, headings, tables, "
                    "lists of arguments); English-looking sentences without URLs, identifiers, "
                    "licence text or non-ASCII; de-duplicated; documents in sorted path order"
                ),
                "sources": corpus.sources,
                "docstring_packages": list(corpus_mod.DOCSTRING_PACKAGES),
            }
        )
        return {
            "state": "done",
            "format": FORMAT_VERSION,
            "mode": self.recipe.mode,
            "built_at": time.time(),
            "seed": self.options.seed,
            "budget_minutes": self.options.minutes,
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
        }


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
