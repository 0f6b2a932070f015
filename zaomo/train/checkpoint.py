"""Atomic checkpoints with everything that changes the next step: trainable weights, optimizer, scheduler,
grad scaler, every rank's RNG state, and the loop's own state (step, best validation loss, early-stopping
patience, tokens seen). The data position follows from the step and the seed. Keeps the last k and the best.

Loading is strict: a checkpoint whose weights do not name exactly the parameters that train (a missing or an
unexpected key) is refused with the names, instead of silently resuming from the initial weights. Under FSDP
and DeepSpeed the weights and optimizer are sharded, so accelerate's `save_state`/`load_state` writes and reads
them on every rank; elsewhere only what trains is saved (a LoRA checkpoint is the adapter, not the base)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch


class CheckpointError(RuntimeError):
    """A checkpoint that does not fit the model being resumed."""


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(s: dict[str, Any]) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def trainable_state(model) -> dict[str, torch.Tensor]:
    """Only what trains (all weights for full training; adapters for LoRA/prefix), by canonical name."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


def load_trainable(model, state: dict[str, torch.Tensor], where: Path) -> None:
    """Put saved trainable weights back, refusing any mismatch by name."""
    want = {n for n, p in model.named_parameters() if p.requires_grad}
    missing, unexpected = sorted(want - set(state)), sorted(set(state) - want)
    if missing or unexpected:
        def show(xs: list[str]) -> str:
            return ", ".join(xs[:5]) + (f" (+{len(xs) - 5} more)" if len(xs) > 5 else "")
        raise CheckpointError(
            f"checkpoint {where} does not match the model being trained: "
            + (f"missing {show(missing)}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"unexpected {show(unexpected)}" if unexpected else "")
            + ". Resume with the run's own model, method and config (or start a new run)")
    model.load_state_dict(state, strict=False)  # frozen weights are not in a checkpoint by design


def is_sharded(acc) -> bool:
    from accelerate.utils import DistributedType

    return acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def save_checkpoint(ckpt_root: Path, step: int, acc, model, raw, optimizer, scheduler, state: dict[str, Any],
                    keep_last: int, is_best: bool) -> Path:
    """Collective: every rank calls it (each saves its RNG; under FSDP/DeepSpeed its shards)."""
    final = ckpt_root / f"step-{step:08d}"
    tmp = ckpt_root / f".tmp-step-{step:08d}"
    if acc.is_main_process:
        ckpt_root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    acc.wait_for_everyone()
    if is_sharded(acc):
        acc.save_state(str(tmp / "accelerate"))
    elif acc.is_main_process:
        torch.save(trainable_state(raw), tmp / "model.pt")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        if acc.scaler is not None:
            torch.save(acc.scaler.state_dict(), tmp / "scaler.pt")
    torch.save(rng_state(), tmp / f"rng-{acc.process_index}.pt")
    acc.wait_for_everyone()
    if acc.is_main_process:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step, "world_size": acc.num_processes}),
                                        encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)  # atomic: a checkpoint dir exists only once complete
        if is_best:
            best = ckpt_root / "best"
            shutil.rmtree(best, ignore_errors=True)
            shutil.copytree(final, best)
        steps = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())
        for old in steps[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()
    return final


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    steps = sorted(p for p in ckpt_root.glob("step-*") if (p / "state.json").exists())
    return steps[-1] if steps else None


def load_weights(path: Path, acc, model, raw) -> None:
    """Only the weights of a checkpoint (to keep the best at the end of a run)."""
    if (path / "accelerate").exists():
        acc.load_state(str(path / "accelerate"))
    else:
        load_trainable(raw, torch.load(path / "model.pt", weights_only=True), path)


def load_checkpoint(path: Path, acc, model, raw, optimizer, scheduler) -> dict[str, Any]:
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    if state.get("world_size", acc.num_processes) != acc.num_processes:
        raise CheckpointError(f"checkpoint {path} was written by {state['world_size']} processes; resume with "
                              f"the same number (this run has {acc.num_processes})")
    if (path / "accelerate").exists():
        acc.load_state(str(path / "accelerate"))
    else:
        load_trainable(raw, torch.load(path / "model.pt", weights_only=True), path)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
        if acc.scaler is not None:
            if not (path / "scaler.pt").exists():
                raise CheckpointError(f"checkpoint {path} has no grad-scaler state but this run uses fp16")
            acc.scaler.load_state_dict(torch.load(path / "scaler.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    set_rng_state(torch.load(path / f"rng-{acc.process_index}.pt", weights_only=False))
    return state
