"""The training loop both models share: time budget, LR schedule, checkpoints, resume.

The schedule runs on *progress* (the larger of elapsed/time budget and step/step cap), so a
build given N minutes warms up, decays and stops in N minutes whatever the machine's speed:
linear warm-up over `warmup_steps`, then cosine decay to `min_lr_ratio` of the peak.

Every `checkpoint_seconds` the loop saves model, optimizer, schedule position (step, elapsed
seconds), every random state and the loss curve to `<workdir>/checkpoint.pt` (atomically). A
rerun loads it and carries on from that step; a stage that finished is marked so and is not
trained again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


class BuildInterrupted(Exception):
    """Raised after `stop_after_steps` (a test hook): the checkpoint is on disk."""


@dataclass(frozen=True)
class LoopSettings:
    budget_seconds: float
    batch_size: int
    peak_lr: float
    warmup_steps: int
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    max_steps: int | None = None
    log_every: int = 10
    checkpoint_seconds: float = 60.0
    autocast_bf16: bool = False
    # parameter name -> learning-rate multiplier (new heads learn faster than pre-trained layers)
    lr_multipliers: dict[str, float] = field(default_factory=dict)


def lr_at(settings: LoopSettings, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / max(1, settings.warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return settings.peak_lr * warm * (settings.min_lr_ratio + (1 - settings.min_lr_ratio) * cosine)


@dataclass
class LoopResult:
    steps: int
    elapsed_seconds: float
    curve: list[dict]
    resumed_from_step: int | None
    examples_seen: int


def _param_groups(model, weight_decay: float, multipliers: dict[str, float]) -> list[dict]:
    """Trainable parameters grouped by (weight decay or not, learning-rate multiplier)."""
    groups: dict[tuple[bool, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_norm_or_bias = param.ndim < 2 or "LayerNorm" in name or ".ln_" in name
        key = (not is_norm_or_bias, float(multipliers.get(name, 1.0)))
        groups.setdefault(key, []).append(param)
    return [
        {"params": params, "weight_decay": weight_decay if decay else 0.0, "lr_multiplier": mult}
        for (decay, mult), params in sorted(groups.items())
    ]


def train_loop(
    *,
    model,
    step_fn: Callable[[int, float], tuple[object, dict[str, float]]],
    settings: LoopSettings,
    workdir: Path,
    random_state: Callable[[], dict],
    restore_random_state: Callable[[dict], None],
    on_progress: Callable[[float, float | None, dict], None],
    stop_after_steps: int | None = None,
) -> LoopResult:
    """Train `model` with `step_fn(step, progress) -> (loss tensor, {name: float})` until the
    budget ends (`progress` runs from 0 to 1 over the budget, as the LR schedule does).

    `random_state`/`restore_random_state` capture whatever randomness the step function uses
    (data sampler, masking generator); torch's global RNG is saved here as well.
    """
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = workdir / "checkpoint.pt"
    optimizer = torch.optim.AdamW(
        _param_groups(model, settings.weight_decay, settings.lr_multipliers),
        lr=settings.peak_lr,
        betas=settings.betas,
        eps=1e-6,
    )
    step, elapsed, curve, resumed_from = 0, 0.0, [], None
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, curve = state["step"], state["elapsed"], state["curve"]
        torch.set_rng_state(state["torch_rng"])
        restore_random_state(state["random"])
        resumed_from = step
        if state.get("finished"):
            return LoopResult(step, elapsed, curve, None, state["examples_seen"])

    def progress_of(step_now: int, elapsed_now: float) -> float:
        progress = elapsed_now / settings.budget_seconds if settings.budget_seconds > 0 else 1.0
        if settings.max_steps:
            progress = max(progress, step_now / settings.max_steps)
        return progress

    def save(finished: bool) -> None:
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": {"kind": "warmup+cosine on progress", **asdict(settings)},
                "step": step,
                "elapsed": elapsed,
                "curve": curve,
                "torch_rng": torch.get_rng_state(),
                "random": random_state(),
                "finished": finished,
                "examples_seen": step * settings.batch_size,
            },
            tmp,
        )
        tmp.replace(checkpoint_path)

    model.train()
    # per metric: a stage may add a term part-way through (the sequence-level unlikelihood)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    last_checkpoint = tick = time.monotonic()
    while (progress := progress_of(step, elapsed)) < 1.0:
        lr = lr_at(settings, step, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_multiplier", 1.0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=settings.autocast_bf16):
            loss, metrics = step_fn(step, progress)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], settings.grad_clip
        )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        now = time.monotonic()  # wall time, so checkpoints and logging count against the budget
        elapsed, tick = elapsed + (now - tick), now
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
        if step % settings.log_every == 0 or progress_of(step, elapsed) >= 1.0:
            point = {"step": step, "elapsed_s": round(elapsed, 2), "lr": float(f"{lr:.4g}")}
            point.update({key: round(total / counts[key], 4) for key, total in sums.items()})
            curve.append(point)
            sums, counts = {}, {}
        progress = progress_of(step, elapsed)
        eta = max(0.0, settings.budget_seconds - elapsed) if not settings.max_steps else None
        on_progress(min(progress, 1.0), eta, curve[-1] if curve else {})
        if time.monotonic() - last_checkpoint >= settings.checkpoint_seconds:
            save(finished=False)
            last_checkpoint = time.monotonic()
        if stop_after_steps is not None and step >= stop_after_steps and progress < 1.0:
            save(finished=False)
            raise BuildInterrupted(f"stopped after step {step} (checkpoint saved)")
    save(finished=True)
    return LoopResult(step, elapsed, curve, resumed_from, step * settings.batch_size)
