"""Learning-rate schedules after linear warmup: cosine, linear, WSD (warmup-stable-decay) and constant,
all decaying to `min_lr_ratio` of the peak."""

from __future__ import annotations

import math


def lr_factor(step: int, total: int, warmup: int, kind: str, min_ratio: float) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == "cosine":
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if kind == "linear":
        return 1 - (1 - min_ratio) * progress
    if kind == "wsd":  # stable until the last 20%, then linear decay
        return 1.0 if progress < 0.8 else 1 - (1 - min_ratio) * (progress - 0.8) / 0.2
    raise ValueError(f"train.schedule: unknown schedule {kind!r}")
