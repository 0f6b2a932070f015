"""The one training loop, for every stage (pretrain, SFT, DPO) and method (full, LoRA, QLoRA, prefix).

Written out where you can read it (like nanoGPT/litgpt), on accelerate for devices, mixed precision and
DDP/FSDP/DeepSpeed under `accelerate launch`. The stage only picks the data and the loss. The data order
is a function of (seed, epoch), so the position after N steps is known and resume is exact.
"""

from __future__ import annotations

import contextlib
import copy
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
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .metrics_log import MetricsLog
from .objectives import causal_lm_loss, dpo_loss, sequence_logps
from .schedule import lr_factor


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


def _init_model(ws: Workspace, device: str):
    """The model to train and its tokenizer: a preset from scratch, or `init_from` / `model.base`."""
    from transformers import AutoTokenizer

    cfg = ws.cfg
    src = cfg.train.init_from or cfg.model.base
    if cfg.train.method == "qlora":
        if device != "cuda":
            raise RuntimeError("train.method=qlora needs a CUDA GPU (bitsandbytes 4-bit); use train.method=lora")
        from ..utils.env import optional_import

        optional_import("bitsandbytes", "gpu", "QLoRA")
    if src:
        path = str(ws.resolve_model(src)) if not Path(src).is_absolute() and (
            ws.path(src).is_dir() or ":" in src or (ws.models_dir / src).is_dir()
            or ws.registry.get_model(src) is not None) else src
        from transformers import AutoModelForCausalLM

        kwargs: dict[str, Any] = {}
        if cfg.train.method == "qlora":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16)
        if (Path(path) / "adapter_config.json").exists():
            from ..model.load import load_model

            model, tok = load_model(path, device="cpu")
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kwargs)
            tok = AutoTokenizer.from_pretrained(path)
        return model, tok, path
    if not ws.tokenizer_dir.exists():
        raise FileNotFoundError(f"no tokenizer at {ws.tokenizer_dir}: run `zaomo tokenizer train` first")
    from ..model.build import build_model

    tok = AutoTokenizer.from_pretrained(ws.tokenizer_dir)
    return build_model(cfg.model, tok, seed=cfg.project.seed), tok, None


def _wrap_method(ws: Workspace, model):
    t = ws.cfg.train
    if t.method == "full":
        return model
    from peft import LoraConfig, PrefixTuningConfig, TaskType, get_peft_model

    if t.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=t.grad_checkpointing)
    if t.method in ("lora", "qlora"):
        present = {n.split(".")[-1] for n, _ in model.named_modules()}
        targets = [m for m in t.lora.target_modules if m in present]
        if not targets:
            raise ValueError(f"train.lora.target_modules: none of {t.lora.target_modules} exist in this model")
        pc = LoraConfig(r=t.lora.r, lora_alpha=t.lora.alpha, lora_dropout=t.lora.dropout, target_modules=targets,
                        task_type=TaskType.CAUSAL_LM)
    else:
        pc = PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t.prefix.num_virtual_tokens)
    return get_peft_model(model, pc)


def _files(ws: Workspace) -> tuple[Path, Path | None]:
    t = ws.cfg.train
    default = {"pretrain": ws.clean_dir / "train.jsonl", "sft": ws.root / "data" / "sft" / "train.jsonl",
               "dpo": ws.root / "data" / "prefs" / "train.jsonl"}[t.stage]
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


def _datasets(ws: Workspace, tok, train_f: Path, val_f: Path | None) -> tuple[Any, Any]:
    t, L = ws.cfg.train, ws.cfg.model.seq_len
    if t.stage == "pretrain":
        cache = ws.root / "data" / "tokens"
        train = tdata.PackedDataset(tdata.pretokenize([train_f], tok, cache), L)
        val = None
        if val_f:
            toks = tdata.pretokenize([val_f], tok, cache)
            val = tdata.PackedDataset(toks, min(L, max(16, len(toks) - 1))) if len(toks) > 16 else None
        return train, val
    loader = tdata.load_sft if t.stage == "sft" else tdata.load_dpo
    train = loader(train_f, tok, L)
    if val_f:
        return train, loader(val_f, tok, L)
    # no validation file: hold out every 20th example (deterministic, spread over the file)
    held = set(range(0, len(train), 20))
    return [e for i, e in enumerate(train) if i not in held], [train[i] for i in sorted(held)]


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


@torch.no_grad()
def _evaluate(model, val, tok, stage: str, batch_size: int, device, ref=None, beta: float = 0.1,
              max_batches: int = 20) -> float:
    if val is None or len(val) == 0:
        return float("nan")
    model.eval()
    losses, weights = [], []
    items = [val[i] for i in range(len(val))][: batch_size * max_batches]
    for s in range(0, len(items), batch_size):
        b = {k: v.to(device) for k, v in tdata.collate(items[s:s + batch_size], tok.pad_token_id).items()}
        if stage == "dpo":
            pc, pr = sequence_logps(model, b, "chosen"), sequence_logps(model, b, "rejected")
            rc, rr = ref(b, s)
            loss, _ = dpo_loss(pc, pr, rc, rr, beta)
            n = len(items[s:s + batch_size])
        else:
            loss, n = causal_lm_loss(model, b)
        losses.append(float(loss) * n)
        weights.append(n)
    model.train()
    return sum(losses) / max(1, sum(weights))


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


def run_training(ws: Workspace, progress: bool = True, resume: str | None = None,
                 stop_after: int | None = None, register_as: str | None = None) -> TrainResult:
    """Train per `ws.cfg.train`; `resume` a run id continues it exactly; `stop_after` (tests) stops early
    as if the process were killed after that step's checkpoint; `register_as` records the result as a new
    version of that model name (the files still go to models/<train.output_name>)."""
    from accelerate import Accelerator

    cfg, t = ws.cfg, ws.cfg.train
    device_kind = cfg.project.device
    if device_kind == "auto":
        from ..model.load import pick_device

        device_kind = pick_device()
    _fresh_accelerator_state(_precision(ws, device_kind))
    acc = Accelerator(cpu=device_kind == "cpu", mixed_precision=_precision(ws, device_kind),
                      gradient_accumulation_steps=1)
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
        seed_everything(cfg.project.seed)
        model, tok, base_path = _init_model(ws, device_kind)
        if t.grad_checkpointing and hasattr(model, "gradient_checkpointing_enable"):
            model.gradient_checkpointing_enable()
        model = _wrap_method(ws, model)
        train_f, val_f = _files(ws)
        train_ds, val_ds = _datasets(ws, tok, train_f, val_f)
        if t.compile:
            model = torch.compile(model)
        opt = torch.optim.AdamW(_params_groups(model, t.weight_decay), lr=t.lr, betas=tuple(t.betas),
                                fused=device_kind in ("cuda", "cpu"))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, t.max_steps, t.warmup_steps, t.schedule, t.min_lr_ratio))
        model, opt = acc.prepare(model, opt)
        device = acc.device
        world, rank = acc.num_processes, acc.process_index

        ref_fn = None
        if t.stage == "dpo":
            ref_fn = _make_reference(acc.unwrap_model(model), train_ds, val_ds, tok, device, t)

        ckpt_root = run_dir / "checkpoints"
        start, best, metrics_path = 0, float("inf"), run_dir / "metrics.jsonl"
        last = latest_checkpoint(ckpt_root) if resume else None
        if resume and last is None:
            raise FileNotFoundError(f"run {resume} has no checkpoint to resume from in {ckpt_root}")
        if last is not None:
            st = load_checkpoint(last, acc.unwrap_model(model), opt, sched)
            start, best = st["step"], st.get("best", best)
            kept = [line for line in metrics_path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line)["step"] <= start] if metrics_path.exists() else []
            if main:
                atomic_write_text(metrics_path, "".join(k + "\n" for k in kept))
            log.info(f"resumed {run_id} from step {start}")
        elif main:
            atomic_write_text(run_dir / "config.yaml", _yaml(cfg.model_dump(mode="json")))
            metrics_path.write_text("", encoding="utf-8")
            ws.registry.start_run(run_id, "train", stage=t.stage, method=t.method, seed=cfg.project.seed,
                                  config=cfg.model_dump(mode="json"), versions=package_versions(),
                                  inputs={str(train_f): file_hash(train_f)}, path=str(run_dir))

        mlog = MetricsLog(metrics_path, run_dir / "tensorboard" if t.tensorboard else None, enabled=rank == 0)
        stack.callback(mlog.close)
        if last is None:  # the starting point, so every curve shows where it came from
            v0 = _evaluate(model, val_ds, tok, t.stage, t.batch_size, device,
                           ref_fn and (lambda b, s: ref_fn(b, s, None, val=True)), t.dpo.beta)
            if not math.isnan(v0):
                mlog.write({"step": 0, "val_loss": v0})
        model.train()
        n = len(train_ds)
        per_rank = t.batch_size
        tokens_seen, t0 = 0, time.perf_counter()
        losses_window: list[float] = []
        patience = 0
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        cols = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[tps]:.0f} tok/s"),
                TimeRemainingColumn()]
        with Progress(*cols, disable=not progress or rank != 0, transient=True) as bar:
            task = bar.add_task(f"{t.stage}/{t.method}", total=t.max_steps, completed=start, loss=0.0, tps=0.0)
            for step in range(start, t.max_steps):
                opt.zero_grad(set_to_none=True)
                step_loss = 0.0
                for micro in range(t.grad_accum):
                    g = step * t.grad_accum + micro
                    idx = _global_indices(g, per_rank * world, n, cfg.project.seed)[rank * per_rank:(rank + 1) * per_rank]
                    b = {k: v.to(device) for k, v in tdata.collate([train_ds[i] for i in idx],
                                                                   tok.pad_token_id).items()}
                    with acc.autocast():
                        if t.stage == "dpo":
                            pc, pr = sequence_logps(model, b, "chosen"), sequence_logps(model, b, "rejected")
                            rc, rr = ref_fn(b, None, idx)
                            loss, _extra = dpo_loss(pc, pr, rc, rr, t.dpo.beta)
                        else:
                            loss, _ntok = causal_lm_loss(model, b)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"loss is {float(loss)} at step {step}: lower train.lr or check the data "
                            f"(the last good checkpoint is in {ckpt_root})")
                    acc.backward(loss / t.grad_accum)
                    step_loss += float(loss.detach()) / t.grad_accum
                    tokens_seen += int(b.get("attention_mask", b.get("chosen_attention_mask")).sum()) * world \
                        if "attention_mask" in b or "chosen_attention_mask" in b else 0
                if t.grad_clip > 0:
                    acc.clip_grad_norm_(model.parameters(), t.grad_clip)
                opt.step()
                sched.step()
                done = step + 1
                losses_window.append(step_loss)
                tps = tokens_seen / max(1e-9, time.perf_counter() - t0)
                bar.update(task, completed=done, loss=step_loss, tps=tps)
                row: dict[str, Any] = {"step": done, "loss": step_loss, "lr": sched.get_last_lr()[0],
                                       "tokens_per_s": round(tps, 1)}
                is_best = False
                if done % t.eval_every == 0 or done == t.max_steps:
                    vl = _evaluate(model, val_ds, tok, t.stage, t.batch_size, device, ref_fn and
                                   (lambda b, s: ref_fn(b, s, None, val=True)), t.dpo.beta)
                    row["val_loss"] = vl
                    if not math.isnan(vl) and vl < best - 1e-6:
                        best, is_best, patience = vl, True, 0
                    else:
                        patience += 1
                if done % t.log_every == 0 or "val_loss" in row or done == t.max_steps:
                    mlog.write(row)
                if rank == 0 and (done % t.save_every == 0 or done == t.max_steps or is_best):
                    save_checkpoint(ckpt_root, done, acc.unwrap_model(model), opt, sched, {"best": best},
                                    t.keep_last, is_best)
                if stop_after is not None and done >= stop_after:
                    return TrainResult(run_id, run_dir, {"stopped_at": done})
                if t.early_stopping_patience and patience >= t.early_stopping_patience:
                    log.info(f"early stop at step {done}: no improvement in {patience} evaluations")
                    break
        acc.wait_for_everyone()
        if not main:
            return TrainResult(run_id, ws.models_dir / (t.output_name or f"{cfg.project.name}-{t.stage}"))
        final_val = _last_val(metrics_path)
        result = _save_outputs(ws, acc.unwrap_model(model), tok, run_id, base_path, train_f, register_as)
        _plot(metrics_path, run_dir / "plots" / "loss.png", f"{t.stage} / {t.method}")
        result.metrics = {"final_train_loss": float(np.mean(losses_window[-10:])) if losses_window else None,
                          "val_loss": final_val, "best_val_loss": best if best < float("inf") else None,
                          "steps": t.max_steps, "world_size": world, "tokens_per_s": round(tokens_seen / max(1e-9, time.perf_counter() - t0), 1)}
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


def _make_reference(model, train_ds, val_ds, tok, device, t):
    """Reference log-probs: precomputed once with the starting policy (adapters off for LoRA), or a frozen
    copy evaluated as we go. Returns fn(batch, start, indices, val=False) -> (ref_chosen, ref_rejected)."""
    def compute(ref_model, items):
        out = []
        ref_model.eval()
        with torch.no_grad():
            for s in range(0, len(items), 8):
                b = {k: v.to(device) for k, v in tdata.collate(items[s:s + 8], tok.pad_token_id).items()}
                out += list(zip(sequence_logps(ref_model, b, "chosen").tolist(),
                                sequence_logps(ref_model, b, "rejected").tolist()))
        ref_model.train()
        return out

    if t.dpo.reference == "model":
        frozen = copy.deepcopy(model).eval()
        for p in frozen.parameters():
            p.requires_grad_(False)

        def live(b, _s=None, _idx=None, val=False):
            with torch.no_grad():
                return sequence_logps(frozen, b, "chosen"), sequence_logps(frozen, b, "rejected")
        return live

    ctx = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    with ctx:
        train_ref = compute(model, [train_ds[i] for i in range(len(train_ds))])
        val_ref = compute(model, [val_ds[i] for i in range(len(val_ds))]) if val_ds else []

    def pre(b, s=None, idx=None, val=False):
        if val:
            rows = val_ref[s:s + len(b["chosen_input_ids"])]
        else:
            rows = [train_ref[i] for i in idx]
        r = torch.tensor(rows, device=device)
        return r[:, 0], r[:, 1]
    return pre


def _save_outputs(ws: Workspace, model, tok, run_id: str, base_path: str | None, train_f: Path,
                  register_as: str | None = None) -> TrainResult:
    t = ws.cfg.train
    name = t.output_name or f"{ws.cfg.project.name}-{t.stage}"
    out = ws.models_dir / name
    adapter_dir = None
    if t.method in ("lora", "qlora", "prefix"):
        adapter_dir = ws.models_dir / f"{name}-adapter"
        model.save_pretrained(adapter_dir)
        tok.save_pretrained(adapter_dir)
        if t.method == "prefix":
            out = adapter_dir
        else:
            merged = copy.deepcopy(model).merge_and_unload()
            save_model(merged, tok, out)
    else:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        save_model(model, tok, out)
    mv = ws.registry.register_model(register_as or name, str(out.relative_to(ws.root)) if out.is_relative_to(ws.root) else str(out),
                                    run_id=run_id, base=base_path, tokenizer=str(ws.tokenizer_dir),
                                    data={str(train_f): file_hash(train_f)},
                                    parent_id=_parent_id(ws, base_path))
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
