"""Training precision: bfloat16 autocast where this CPU runs it faster, float32 otherwise.

Weights stay float32 either way; only the matmuls run in bfloat16 under autocast. `auto`
measures the speed-up here (a transformer-sized matmul, best of five rounds, since other
processes on a shared machine only ever add time) and uses bfloat16 from 1.3x on.
"""

from __future__ import annotations

import time

MIN_SPEEDUP = 1.3


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


def choose(precision: str, *, quick: bool, threads: int) -> dict:
    """What the build trains in: ``{"autocast_bf16", "chosen", "why"}`` for training.json."""
    if precision == "auto":
        if quick:
            return {"autocast_bf16": False, "chosen": "float32", "why": "quick build"}
        speedup = bf16_speedup(threads)
        use = speedup >= MIN_SPEEDUP
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
