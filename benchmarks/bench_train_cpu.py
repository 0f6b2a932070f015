"""CPU training throughput: zaomo's loop vs Hugging Face `Trainer`, same model, data, precision and batch,
counted so that neither side is flattered.

    python benchmarks/bench_train_cpu.py [--steps 60] [--warmup 10] [--hidden 256] [--layers 4] [--seq 256]
        [--batch 8] [--modes fp32,bf16-compile,sft-packed]

Both sides start from the same initial weights. Tokens/s is measured over the same window on both sides — the
steps after `--warmup` (compile and first-step costs excluded) — from per-step wall-clock timestamps, and the
tokens counted are the real (non-padding) tokens each side actually trained in that window, printed.
- `fp32`: pretraining on packed blocks, eager fp32 on both sides (the Trainer drops the last partial batch, so
  both train `batch × seq` tokens every step).
- `bf16-compile`: the same with bf16 autocast and torch.compile on both sides (CPUs with AMX/AVX512-BF16).
- `sft-packed`: SFT on the demo chat pairs: zaomo packs examples into rows of `--seq` tokens (attention within
  each example) and runs the LM head only where a label follows; the Trainer pads each batch of examples (the
  usual `DataCollatorForSeq2Seq` set-up). Throughput = real tokens/s; the Trainer's batch holds as many examples
  as fit the same token budget on average (`batch × seq / mean example length`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def window_rate(times: list[float], tokens: list[int], warmup: int) -> tuple[float, int, float]:
    """(tokens/s, tokens, seconds) over steps warmup+1 … end, from cumulative per-step timestamps/tokens."""
    t0, k0 = times[warmup - 1], tokens[warmup - 1]
    secs, toks = times[-1] - t0, tokens[-1] - k0
    return toks / secs, toks, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--modes", default="fp32,bf16-compile,sft-packed")
    a = ap.parse_args()
    modes = a.modes.split(",")
    if len(modes) > 1:  # accelerate's precision is per process: one child process per mode
        for mode in modes:
            argv = [sys.executable, __file__, "--steps", str(a.steps), "--warmup", str(a.warmup), "--hidden",
                    str(a.hidden), "--layers", str(a.layers), "--seq", str(a.seq), "--batch", str(a.batch),
                    "--modes", mode]
            print(subprocess.run(argv, capture_output=True, text=True, check=True).stdout, end="", flush=True)
        return
    run_mode(a, modes[0])


def run_mode(a, mode: str) -> None:
    import numpy as np
    import torch
    from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from zaomo.data import run_pipeline
    from zaomo.demo import write_demo
    from zaomo.model.build import build_model
    from zaomo.model.tokenizer import train_tokenizer
    from zaomo.train import run_training
    from zaomo.train.data import PackedDataset, load_sft, pretokenize
    from zaomo.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="zaomo-bench-"))
    Workspace.init(root)
    write_demo(root)
    fast, sft = mode == "bf16-compile", mode == "sft-packed"
    over = ["project.device=cpu", "tokenizer.vocab_size=3000", "model.preset=10m", f"model.hidden_size={a.hidden}",
            f"model.num_layers={a.layers}", "model.num_heads=8", "model.num_kv_heads=4",
            f"model.intermediate_size={a.hidden * 3}", f"model.seq_len={a.seq}", f"train.batch_size={a.batch}",
            f"train.max_steps={a.steps}", "train.warmup_steps=5", "train.lr=1e-3", "train.log_every=1",
            "train.eval_every=100000", "train.save_every=100000", "train.schedule=constant", "train.grad_clip=1.0",
            "train.weight_decay=0.0", "train.output_name=bench", "data.split.val_ratio=0.0", "train.keep=last",
            "train.tensorboard=false", f"train.precision={'bf16' if fast else 'fp32'}",
            f"train.compile={str(fast).lower()}"]
    if sft:
        over += ["train.stage=sft", "train.packing=true"]
    ws = Workspace.open(root, overrides=over)
    run_pipeline(ws, progress=False)
    train_tokenizer(ws)
    tok = AutoTokenizer.from_pretrained(ws.tokenizer_dir)

    if sft:
        examples = load_sft(root / "data" / "sft" / "train.jsonl", tok, a.seq)
        mean_len = float(np.mean([len(e["input_ids"]) for e in examples]))
        hf_batch = max(1, round(a.batch * a.seq / mean_len))

        class Data(torch.utils.data.Dataset):
            def __len__(self):
                return len(examples)

            def __getitem__(self, i):
                return {"input_ids": examples[i]["input_ids"].tolist(), "labels": examples[i]["labels"].tolist()}

        from transformers import DataCollatorForSeq2Seq

        collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
        data = Data()
    else:
        ds = PackedDataset(pretokenize([ws.clean_dir / "train.jsonl"], tok, root / "data" / "tokens"), a.seq)
        hf_batch, collator = a.batch, None

        class Data(torch.utils.data.Dataset):
            def __len__(self):
                return len(ds)

            def __getitem__(self, i):
                x = ds[i]
                return {"input_ids": torch.from_numpy(x["input_ids"]), "labels": torch.from_numpy(x["labels"])}

        data = Data()

    # zaomo: per-step timestamps and cumulative real tokens from its metrics
    res = run_training(Workspace.open(root, overrides=over), progress=False)
    rows = [json.loads(x) for x in (root / "runs" / res.run_id / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r]
    ours_tps, ours_tok, ours_s = window_rate([r["elapsed_s"] for r in rows], [r["tokens_seen"] for r in rows],
                                             a.warmup)
    ours_loss = float(np.mean([r["loss"] for r in rows][-10:]))

    class Clock(TrainerCallback):
        """Wall clock and real tokens at the end of every optimizer step."""

        def __init__(self):
            self.times, self.tokens, self.seen = [], [], 0

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter())
            self.tokens.append(self.seen)

    clock = Clock()

    class Counting(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            mask = inputs.get("attention_mask")
            clock.seen += int(mask.sum()) if mask is not None else inputs["input_ids"].numel()
            return super().training_step(model, inputs, num_items_in_batch)

    model = build_model(ws.cfg.model, tok, seed=ws.cfg.project.seed)
    args = TrainingArguments(output_dir=str(root / f"hf-{mode}"), per_device_train_batch_size=hf_batch,
                             max_steps=a.steps, learning_rate=1e-3, warmup_steps=5,
                             lr_scheduler_type="constant_with_warmup", weight_decay=0.0, max_grad_norm=1.0,
                             logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                             seed=ws.cfg.project.seed, dataloader_num_workers=0, adam_beta1=0.9, adam_beta2=0.95,
                             bf16=fast, torch_compile=fast, dataloader_drop_last=True)
    trainer = Counting(model=model, args=args, train_dataset=data, data_collator=collator, callbacks=[clock])
    trainer.train()
    hf_tps, hf_tok, hf_s = window_rate(clock.times, clock.tokens, a.warmup)
    hf_loss = float(np.mean([h["loss"] for h in trainer.state.log_history if "loss" in h][-10:]))

    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    what = (f"SFT, zaomo packed rows of {a.seq} (batch {a.batch}) vs Trainer padded batches of {hf_batch} examples"
            if sft else f"pretraining, batch {a.batch} x {a.seq}")
    print(f"[{mode}] {n_params:.2f}M params, {what}, {a.steps} steps, window = steps {a.warmup + 1}-{a.steps}")
    print(f"[{mode}] zaomo loop : {ours_tps:9.0f} real tokens/s  ({ours_tok} tokens in {ours_s:.2f} s)  "
          f"last-10 loss {ours_loss:.4f}")
    print(f"[{mode}] HF Trainer : {hf_tps:9.0f} real tokens/s  ({hf_tok} tokens in {hf_s:.2f} s)  "
          f"last-10 loss {hf_loss:.4f}")
    print(f"[{mode}] ratio      : {ours_tps / hf_tps:.2f}x")
    print("RESULT " + json.dumps({"mode": mode, "ours": ours_tps, "hf": hf_tps, "ours_tokens": ours_tok,
                                  "hf_tokens": hf_tok}))


if __name__ == "__main__":
    main()
