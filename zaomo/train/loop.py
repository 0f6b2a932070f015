"""The one training loop, for every stage (pretrain, SFT, DPO, ORPO, SimPO, KTO, reward model, GRPO) and method
(full, LoRA, QLoRA, prefix).

Written out where you can read it (like nanoGPT/litgpt), on accelerate for devices, mixed precision and
DDP/FSDP/DeepSpeed under `accelerate launch`. The stage (stages.py) only picks the data and the loss. The data order
is a function of (seed, epoch), so the position after N steps is known and resume is exact.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model.load import save_model
from ..utils.env import package_versions, seed_everything
from ..utils.hashing import file_hash
from ..utils.io import atomic_write_text
from ..utils.log import add_file_log, get_logger
from ..workspace import Workspace
from . import data as tdata
from .checkpoint import is_sharded, latest_checkpoint, load_checkpoint, load_weights, save_checkpoint
from .metrics_log import MetricsLog
from .model_init import export_dtype, init_model, merge_adapter, wrap_method
from .schedule import lr_factor
from .stages import Stage, example_tokens, make_stage


@dataclass
class TrainResult:
    run_id: str
    model_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    adapter_dir: Path | None = None
    version_id: int | None = None  # the registry row of the saved model


def _precision(ws: Workspace, device: str) -> str:
    p = ws.cfg.train.precision
    if p == "auto":
        return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "no"
    return {"fp32": "no"}.get(p, p)


def _files(ws: Workspace) -> tuple[Path, Path | None]:
    t = ws.cfg.train
    prefs = ws.root / "data" / "prefs" / "train.jsonl"
    default = {"pretrain": ws.clean_dir / "train.jsonl", "sft": ws.root / "data" / "sft" / "train.jsonl",
               "dpo": prefs, "orpo": prefs, "simpo": prefs, "kto": prefs, "reward": prefs,
               "grpo": ws.root / "data" / "grpo" / "train.jsonl"}[t.stage]
    train = ws.path(t.train_file) if t.train_file else default
    if not train.exists():
        raise FileNotFoundError(f"training data {train} not found (train.train_file)")
    if t.val_file:
        val = ws.path(t.val_file)
    elif t.stage == "pretrain":
        val = ws.clean_dir / "val.jsonl"
    else:
        val = None
    return train, (val if val and val.exists() else None)


def _datasets(ws: Workspace, stage: Stage, tok, train_f: Path, val_f: Path | None) -> tuple[Any, Any]:
    t, L = ws.cfg.train, ws.cfg.model.seq_len
    if t.stage == "pretrain":
        cache = ws.root / "data" / "tokens"
        train = tdata.PackedDataset(tdata.pretokenize([train_f], tok, cache), L)
        val = None
        if val_f:
            toks = tdata.pretokenize([val_f], tok, cache)
            val = tdata.PackedDataset(toks, min(L, max(16, len(toks) - 1))) if len(toks) > 16 else None
        return train, val
    train = stage.load(train_f, L)
    if val_f:
        val = stage.load(val_f, L)
    else:  # no validation file: hold out every 20th example (deterministic, spread over the file)
        held = set(range(0, len(train), 20))
        train, val = [e for i, e in enumerate(train) if i not in held], [train[i] for i in sorted(held)]
    if t.stage == "sft" and t.packing:
        train, val = tdata.pack_examples(train, L), tdata.pack_examples(val, L)
    return train, val


@functools.lru_cache(maxsize=4)
def _order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of epoch `epoch` (cached: a step asks for it once per example)."""
    return np.random.default_rng(seed * 1000 + epoch).permutation(n)


def _params_groups(model, wd: float) -> list[dict]:
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in n.lower() or n.endswith("bias") else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def _to(b: dict, device, non_blocking: bool = False) -> dict:
    return {k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v for k, v in b.items()}


@torch.no_grad()
def _evaluate(model, val, stage: Stage, batch_size: int, device, max_batches: int = 20) -> tuple[float, dict]:
    """Validation loss per unit (token, pair, answer, prompt) and the stage's own numbers (e.g. the reward
    model's pairwise accuracy, GRPO's greedy reward), averaged with the same weights."""
    if val is None or len(val) == 0:
        return float("nan"), {}
    model.eval()
    total, weight, infos, info_w = 0.0, 0, {}, {}
    items = [val[i] for i in range(len(val))][: batch_size * max_batches]
    for s in range(0, len(items), batch_size):
        exs = items[s:s + batch_size]
        b = _to(stage.collate(exs), device)
        n = stage.units(exs, b, val=True)
        loss, info = stage.loss(model, b, list(range(s, s + len(exs))), val=True)
        total += float(loss)
        weight += n
        for k, v in info.items():
            if math.isfinite(v):  # e.g. KTO's reward of good answers, in a batch that has none
                infos[k] = infos.get(k, 0.0) + v * n
                info_w[k] = info_w.get(k, 0) + n
    model.train()
    return total / max(1, weight), {k: v / info_w[k] for k, v in infos.items()}


def _plot(metrics_path: Path, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    tr = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    va = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r and not math.isnan(r["val_loss"])]
    fig, ax = plt.subplots(figsize=(7, 4))
    if tr:
        ax.plot(*zip(*tr), label="train loss")
    if va:
        ax.plot(*zip(*va), "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def resumed_config(ws: Workspace, run_id: str, allow_changes: bool) -> Workspace:
    """The workspace to resume `run_id` with: the run's own saved config. A current config that differs is
    refused (naming the keys) unless `allow_changes`, in which case the current one is used."""
    import yaml

    from ..config import validate

    path = ws.run_dir(run_id) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"run {run_id} has no saved config at {path}: it cannot be resumed")
    saved = validate(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    diff = _diff(saved.model_dump(mode="json"), ws.cfg.model_dump(mode="json"))
    if not diff:
        return dataclasses.replace(ws, cfg=saved)
    shown = "; ".join(f"{k}: {a!r} → {b!r}" for k, a, b in diff[:8]) + (f" (+{len(diff) - 8} more)"
                                                                      if len(diff) > 8 else "")
    if not allow_changes:
        from ..config import ConfigError

        raise ConfigError(f"run {run_id} was started with a different config ({shown}). Resume it as it was "
                          f"(drop those changes), or pass --resume-with-changes to continue with the new values")
    get_logger("zaomo.train").warning(f"resuming {run_id} with changed config: {shown}")
    return ws


def _diff(a: Any, b: Any, key: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{key}.{k}" if key else k)
        return out
    return [] if a == b else [(key, a, b)]


def run_training(ws: Workspace, progress: bool = True, resume: str | None = None,
                 stop_after: int | None = None, register_as: str | None = None,
                 resume_with_changes: bool = False) -> TrainResult:
    """Train per `ws.cfg.train`; `resume` a run id continues it exactly, with the run's own config (a changed
    config is refused unless `resume_with_changes`); `stop_after` (tests) stops early as if the process were
    killed after that step's checkpoint; `register_as` records the result as a new version of that model name
    (the files still go to models/<train.output_name>)."""
    from accelerate import Accelerator

    if resume:
        ws = resumed_config(ws, resume, resume_with_changes)
    cfg, t = ws.cfg, ws.cfg.train
    device_kind = cfg.project.device
    if device_kind == "auto":
        from ..model.load import pick_device

        device_kind = pick_device()
    _fresh_accelerator_state(_precision(ws, device_kind))
    acc = Accelerator(cpu=device_kind == "cpu", mixed_precision=_precision(ws, device_kind),
                      gradient_accumulation_steps=t.grad_accum)
    ids = [resume or ws.new_run_id(f"train-{t.stage}")]
    if acc.num_processes > 1:  # every rank must write into the same run
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(ids)
    run_id, main = ids[0], acc.is_main_process
    run_dir = ws.run_dir(run_id)
    log = get_logger("zaomo.train")
    fh = add_file_log(run_dir / "train.log", "zaomo.train")
    stack = contextlib.ExitStack()  # closes what the run opened (TensorBoard writer) however it ends
    try:
        seed_everything(cfg.project.seed)  # the same initial weights on every rank
        model, tok, base_path, new_tokens = init_model(ws, device_kind)
        if t.grad_checkpointing and hasattr(model, "gradient_checkpointing_enable"):
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model = wrap_method(ws, model, new_tokens)
        stage = make_stage(t, tok, ws.root)
        train_f, val_f = _files(ws)
        train_ds, val_ds = _datasets(ws, stage, tok, train_f, val_f)
        if t.compile:
            model = torch.compile(model)
        opt = torch.optim.AdamW(_params_groups(model, t.weight_decay), lr=t.lr, betas=tuple(t.betas),
                                fused=device_kind in ("cuda", "cpu"))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, t.max_steps, t.warmup_steps, t.schedule, t.min_lr_ratio))
        _configure_deepspeed(acc, t)
        model, opt = acc.prepare(model, opt)
        raw = acc.unwrap_model(model, keep_torch_compile=False)  # canonical parameter names (no _orig_mod.)
        device = acc.device
        world, rank = acc.num_processes, acc.process_index
        seed_everything(cfg.project.seed + rank)  # dropout etc. differ per rank; the data order is global

        stage.setup(raw, train_ds, val_ds, device)

        ckpt_root = run_dir / "checkpoints"
        metrics_path = run_dir / "metrics.jsonl"
        st: dict[str, Any] = {"step": 0, "best": float("inf"), "best_step": None, "patience": 0, "tokens_seen": 0}
        last = latest_checkpoint(ckpt_root) if resume else None
        if resume and last is None:
            raise FileNotFoundError(f"run {resume} has no checkpoint to resume from in {ckpt_root}")
        if last is not None:
            st.update(load_checkpoint(last, acc, model, raw, opt, sched))
            if resume_with_changes:  # the scheduler's state carries the old peak LR: the new config's wins
                sched.base_lrs = [t.lr for _ in opt.param_groups]
                for g in opt.param_groups:
                    g["initial_lr"] = t.lr
                    g["lr"] = t.lr * lr_factor(st["step"], t.max_steps, t.warmup_steps, t.schedule, t.min_lr_ratio)
            kept = [line for line in metrics_path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line)["step"] <= st["step"]] if metrics_path.exists() else []
            if main:
                atomic_write_text(metrics_path, "".join(k + "\n" for k in kept))
            log.info(f"resumed {run_id} from step {st['step']}")
        elif main:
            atomic_write_text(run_dir / "config.yaml", _yaml(cfg.model_dump(mode="json")))
            metrics_path.write_text("", encoding="utf-8")
            ws.registry.start_run(run_id, "train", stage=t.stage, method=t.method, seed=cfg.project.seed,
                                  config=cfg.model_dump(mode="json"), versions=package_versions(),
                                  inputs={str(train_f): file_hash(train_f)}, path=str(run_dir))

        mlog = MetricsLog(metrics_path, run_dir / "tensorboard" if t.tensorboard else None, enabled=rank == 0)
        stack.callback(mlog.close)
        if last is None:  # the starting point, so every curve shows where it came from
            v0, info0 = _evaluate(model, val_ds, stage, t.batch_size, device)
            if not math.isnan(v0):
                mlog.write({"step": 0, "val_loss": v0, **{f"val_{k}": v for k, v in info0.items()}})
        model.train()
        n = len(train_ds)
        per_rank = t.batch_size
        t0, tokens_at_t0 = time.perf_counter(), st["tokens_seen"]
        losses_window: list[float] = []
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        cols = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[tps]:.0f} tok/s"),
                TimeRemainingColumn()]
        done = st["step"]
        with Progress(*cols, disable=not progress or rank != 0, transient=True) as bar:
            task = bar.add_task(f"{t.stage}/{t.method}", total=t.max_steps, completed=st["step"], loss=0.0,
                                tps=0.0)
            multiple = t.pad_multiple or (64 if t.compile else 1)
            pin = device.type == "cuda"

            def prepare(step: int) -> tuple[list[dict], list[list[int]], list[bool], int, int]:
                """One step's host work (indices, collation, pinning, counts), done while the previous step
                computes. Per micro-batch also whether the LM head should run only where labels are: when that
                skips much (SFT), in eager mode — decided here, on the host copy, so the device is not asked."""
                batches, idxs, sparse, units, tokens = [], [], [], 0, 0
                for micro in range(t.grad_accum):
                    g = step * t.grad_accum + micro
                    idx = _global_indices(g, per_rank * world, n, cfg.project.seed)[rank * per_rank:
                                                                                   (rank + 1) * per_rank]
                    exs = [train_ds[i] for i in idx]
                    b = stage.collate(exs, multiple)
                    if pin:
                        b = {k: v.pin_memory() if torch.is_tensor(v) else v for k, v in b.items()}
                    labelled = stage.units(exs, b)
                    units += labelled
                    sparse.append(stage.per_token and not t.compile
                                  and labelled < 0.75 * b["labels"][:, 1:].numel())
                    tokens += example_tokens(exs)
                    batches.append(b)
                    idxs.append(idx)
                return batches, idxs, sparse, units, tokens

            from concurrent.futures import ThreadPoolExecutor

            # on a GPU the next step's host work overlaps the device's; on a CPU a thread only competes for cores
            pool = ThreadPoolExecutor(1, thread_name_prefix="zaomo-batches") if device.type == "cuda" else _Inline()
            stack.callback(pool.shutdown)
            upcoming = pool.submit(prepare, st["step"])
            step_loss_f = float("nan")
            for step in range(st["step"], t.max_steps):
                batches, idxs, sparse, units, step_tokens = upcoming.result()
                if step + 1 < t.max_steps:
                    upcoming = pool.submit(prepare, step + 1)
                # the loss is a sum over the window's labelled tokens (pairs for DPO) divided by their count
                # over all micro-batches and ranks: every token weighs the same, whatever batch it sits in
                if world > 1:
                    counts = acc.reduce(torch.tensor([float(units), float(step_tokens)], device=device), "sum")
                    units, step_tokens = float(counts[0]), int(counts[1])
                total_units = max(1.0, float(units))
                # accelerate divides by grad_accum (DeepSpeed by its own gas), DDP averages over ranks
                scale = world * t.grad_accum / total_units
                step_loss = torch.zeros((), device=device)
                step_info: dict[str, list[float]] = {}
                for b, idx, select in zip(batches, idxs, sparse):
                    b = _to(b, device, non_blocking=True)
                    with acc.accumulate(model), acc.autocast():
                        loss_sum, info = stage.loss(model, b, idx, select=select)
                        acc.backward(loss_sum * scale)
                    step_loss += loss_sum.detach().float()
                    for k, v in info.items():
                        step_info.setdefault(k, []).append(v)
                done = step + 1
                evaluating = done % t.eval_every == 0 or done == t.max_steps
                # the host waits for the device only when a number is needed (log, eval, checkpoint)
                logging = (done % t.log_every == 0 or evaluating or done % t.save_every == 0
                           or (stop_after is not None and done >= stop_after))
                if logging:
                    if world > 1:
                        step_loss = acc.reduce(step_loss, "sum")
                    step_loss_f = float(step_loss) / total_units
                    if not math.isfinite(step_loss_f):
                        raise FloatingPointError(
                            f"loss is {step_loss_f} at step {done}: lower train.lr or check the data "
                            f"(the last good checkpoint is in {ckpt_root})")
                    losses_window.append(step_loss_f)
                if t.grad_clip > 0:
                    acc.clip_grad_norm_(model.parameters(), t.grad_clip)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                st["tokens_seen"] += step_tokens
                elapsed = time.perf_counter() - t0
                tps = (st["tokens_seen"] - tokens_at_t0) / max(1e-9, elapsed)
                bar.update(task, completed=done, loss=step_loss_f, tps=tps)
                row: dict[str, Any] = {"step": done, "loss": step_loss_f, "lr": sched.get_last_lr()[0],
                                       "tokens_per_s": round(tps, 1), "tokens_seen": st["tokens_seen"],
                                       "elapsed_s": round(elapsed, 4),
                                       **{k: float(np.mean(v)) for k, v in step_info.items()}}
                is_best = False
                if evaluating:
                    vl, vinfo = _evaluate(model, val_ds, stage, t.batch_size, device)
                    row["val_loss"] = vl
                    row.update({f"val_{k}": v for k, v in vinfo.items()})
                    if not math.isnan(vl) and vl < st["best"] - 1e-6:
                        st.update(best=vl, best_step=done, patience=0)
                        is_best = True
                    else:
                        st["patience"] += 1
                if logging:
                    mlog.write(row)
                stopping = bool(t.early_stopping_patience and st["patience"] >= t.early_stopping_patience)
                if done % t.save_every == 0 or done == t.max_steps or is_best or stopping:
                    save_checkpoint(ckpt_root, done, acc, model, raw, opt, sched,
                                    {k: v for k, v in st.items() if k != "step"}, t.keep_last, is_best)
                if stop_after is not None and done >= stop_after:
                    return TrainResult(run_id, run_dir, {"stopped_at": done})
                if stopping:
                    log.info(f"early stop at step {done}: no improvement in {st['patience']} evaluations")
                    break
        keep = _keep(t, val_ds)
        last_step = done
        if keep == "best" and st["best_step"] and st["best_step"] != last_step:
            load_weights(ckpt_root / "best", acc, model, raw)
            log.info(f"keeping the best validated weights (step {st['best_step']}, val loss {st['best']:.4f})")
        kept_step = st["best_step"] if keep == "best" and st["best_step"] else last_step
        state_dict = acc.get_state_dict(model) if is_sharded(acc) else None  # collective: every rank gathers
        acc.wait_for_everyone()
        if not main:
            return TrainResult(run_id, ws.models_dir / (t.output_name or f"{cfg.project.name}-{t.stage}"))
        final_val = _last_val(metrics_path)
        result = _save_outputs(ws, raw, tok, run_id, base_path, train_f, register_as, state_dict,
                               {"kept": keep, "kept_step": kept_step,
                                "val_loss": st["best"] if keep == "best" and st["best_step"] else final_val},
                               device_kind)
        _plot(metrics_path, run_dir / "plots" / "loss.png", f"{t.stage} / {t.method}")
        elapsed = max(1e-9, time.perf_counter() - t0)
        result.metrics = {"final_train_loss": float(np.mean(losses_window[-10:])) if losses_window else None,
                          "val_loss": final_val, "best_val_loss": st["best"] if st["best_step"] else None,
                          "kept": keep, "kept_step": kept_step, "steps": last_step, "world_size": world,
                          "tokens_seen": st["tokens_seen"],
                          "tokens_per_s": round((st["tokens_seen"] - tokens_at_t0) / elapsed, 1)}
        ws.registry.finish_run(run_id, summary=result.metrics)
        return result
    except BaseException:
        if not stop_after and main:
            ws.registry.finish_run(run_id, status="failed")
        raise
    finally:
        stack.close()
        get_logger("zaomo.train").removeHandler(fh)
        fh.close()


class _Inline:
    """The executor interface, run in the calling thread."""

    def submit(self, fn, *args):
        from concurrent.futures import Future

        f: Future = Future()
        f.set_result(fn(*args))
        return f

    def shutdown(self, *args, **kwargs) -> None:
        return None


def _keep(t, val_ds) -> str:
    """train.keep, where unset: the best validated weights when there is a validation set, else the last."""
    if t.keep:
        return t.keep
    return "best" if val_ds is not None and len(val_ds) > 0 else "last"


def _configure_deepspeed(acc, t) -> None:
    """DeepSpeed cannot infer 'auto' batch sizes without a prepared dataloader (we index the data ourselves):
    fill them from train.batch_size / grad_accum / grad_clip so `prepare` starts."""
    plugin = getattr(acc.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    ds = plugin.deepspeed_config
    ds["train_micro_batch_size_per_gpu"] = t.batch_size
    ds["gradient_accumulation_steps"] = t.grad_accum
    ds["train_batch_size"] = t.batch_size * t.grad_accum * acc.num_processes
    if ds.get("gradient_clipping") == "auto":
        ds["gradient_clipping"] = t.grad_clip


def _fresh_accelerator_state(precision: str) -> None:
    """accelerate keeps one precision per process; a second run in the same process (a notebook, the
    quickstart, another library's trainer) with another precision would be refused. The process-group part
    (DDP ranks) is kept; only the precision state is dropped."""
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state
    if state and str(state.get("_mixed_precision", precision)) != precision:
        AcceleratorState._reset_state(reset_partial_state=False)


def _global_indices(g: int, size: int, n: int, seed: int) -> list[int]:
    """Examples of global micro-batch `g` (all ranks together): a pure function of the position."""
    out = []
    for k in range(g * size, (g + 1) * size):
        epoch, i = divmod(k, n)
        out.append(int(_order(n, seed, epoch)[i]))
    return out


def _last_val(metrics_path: Path) -> float | None:
    vals = [json.loads(line).get("val_loss") for line in metrics_path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    vals = [v for v in vals if v is not None and not math.isnan(v)]
    return vals[-1] if vals else None


def _save_outputs(ws: Workspace, model, tok, run_id: str, base_path: str | None, train_f: Path,
                  register_as: str | None, state_dict: dict | None, kept: dict, device: str) -> TrainResult:
    """The run's model as a standard HF dir (a LoRA/QLoRA adapter also merged into a fresh 16/32-bit base; a
    prefix adapter kept as it is), registered as a new version. `state_dict` is the gathered full state
    under FSDP/DeepSpeed (a rank's own `state_dict()` holds only its shards there)."""
    t = ws.cfg.train
    name = t.output_name or f"{ws.cfg.project.name}-{t.stage}"
    out = ws.models_dir / name
    adapter_dir = None
    if t.method in ("lora", "qlora", "prefix"):
        adapter_dir = ws.models_dir / f"{name}-adapter"
        model.save_pretrained(adapter_dir, state_dict=state_dict)
        tok.save_pretrained(adapter_dir)
        if t.method == "prefix":
            out = adapter_dir
        elif base_path:
            save_model(merge_adapter(adapter_dir, base_path, export_dtype(ws, device), t.stage == "reward"), tok, out)
        else:  # LoRA on a model built from scratch in this run: no base on disk to reload
            save_model(copy.deepcopy(model).merge_and_unload(), tok, out)
    else:
        save_model(model, tok, out, state_dict=state_dict)
    rel = str(out.relative_to(ws.root)) if out.is_relative_to(ws.root) else str(out)
    mv = ws.registry.register_model(register_as or name, rel, run_id=run_id, base=base_path,
                                    tokenizer=str(ws.tokenizer_dir), data={str(train_f): file_hash(train_f)},
                                    eval=kept, parent_id=_parent_id(ws, base_path))
    res = TrainResult(run_id, out, adapter_dir=adapter_dir)
    res.metrics["model_version"] = mv.version
    res.version_id = mv.id
    return res


def _parent_id(ws: Workspace, base_path: str | None) -> int | None:
    if not base_path:
        return None
    for mv in ws.registry.models():
        if ws.path(mv.path).resolve() == Path(base_path).resolve():
            return mv.id
    return None


def _yaml(d: dict) -> str:
    import yaml

    return yaml.safe_dump(d, allow_unicode=True, sort_keys=False)
