"""Where training metrics go: one JSONL row per logged step (the source of truth, read by plots, the web
console and resume) and, when the `tensorboard` package is installed, the same scalars as TensorBoard
events so a user can watch a run live with `tensorboard --logdir <run>/tensorboard`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..utils.log import get_logger


class MetricsLog:
    """Append-only metrics on rank 0; other ranks get a disabled instance so callers need no `if rank`."""

    def __init__(self, jsonl: Path, tb_dir: Path | None, enabled: bool = True):
        self.jsonl, self.enabled, self._tb = jsonl, enabled, None
        if not (enabled and tb_dir is not None):
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch ships the writer, the `tensorboard` package supplies the protobufs
            get_logger("zaomo.train").info(
                "TensorBoard events off: `pip install 'zaomo[tensorboard]'` to get them (metrics.jsonl is written)")
            return
        self._tb = SummaryWriter(log_dir=str(tb_dir))

    @property
    def tensorboard(self) -> bool:
        return self._tb is not None

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k != "step" and isinstance(v, int | float):
                    self._tb.add_scalar(f"train/{k}" if k != "val_loss" else "val/loss", v, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
