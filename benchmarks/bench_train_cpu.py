"""CPU training throughput: zaomo's loop vs Hugging Face `Trainer`, same model, data, batch and steps.

    python benchmarks/bench_train_cpu.py [--steps 60] [--hidden 256] [--layers 4] [--seq 256] [--batch 8]

Both start from the same initial weights and see the same packed blocks in the same order; prints
tokens/s of each, the ratio, and the mean loss of the last 10 steps of each (they should agree).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()

    import numpy as np
    import torch
    from transformers import Trainer, TrainingArguments

    from zaomo.data import run_pipeline
    from zaomo.demo import write_demo
    from zaomo.model.tokenizer import train_tokenizer
    from zaomo.train import run_training
    from zaomo.train.data import PackedDataset, pretokenize
    from zaomo.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="zaomo-bench-"))
    Workspace.init(root)
    write_demo(root)
    over = ["project.device=cpu", "tokenizer.vocab_size=3000", "model.preset=10m", f"model.hidden_size={a.hidden}",
            f"model.num_layers={a.layers}", "model.num_heads=8", "model.num_kv_heads=4",
            f"model.intermediate_size={a.hidden * 3}", f"model.seq_len={a.seq}", f"train.batch_size={a.batch}",
            f"train.max_steps={a.steps}", "train.warmup_steps=5", "train.lr=1e-3", "train.log_every=1",
            "train.eval_every=100000", "train.save_every=100000", "train.schedule=constant", "train.grad_clip=1.0",
            "train.weight_decay=0.0", "train.output_name=bench", "data.split.val_ratio=0.0"]
    ws = Workspace.open(root, overrides=over)
    run_pipeline(ws, progress=False)
    train_tokenizer(ws)

    t0 = time.perf_counter()
    res = run_training(ws, progress=False)
    ours_s = time.perf_counter() - t0
    rows = [json.loads(x) for x in (root / "runs" / res.run_id / "metrics.jsonl").read_text().splitlines()]
    ours_loss = float(np.mean([r["loss"] for r in rows if "loss" in r][-10:]))
    ours_loop_tps = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r][-1]

    # HF Trainer on the same blocks, same initial weights (rebuilt with the same seed)
    from transformers import AutoTokenizer

    from zaomo.model.build import build_model

    tok = AutoTokenizer.from_pretrained(ws.tokenizer_dir)
    model = build_model(ws.cfg.model, tok, seed=ws.cfg.project.seed)
    ds = PackedDataset(pretokenize([ws.clean_dir / "train.jsonl"], tok, root / "data" / "tokens"), a.seq)

    class Blocks(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            x = ds[i]
            return {"input_ids": torch.from_numpy(x["input_ids"]), "labels": torch.from_numpy(x["labels"])}

    args = TrainingArguments(output_dir=str(root / "hf"), per_device_train_batch_size=a.batch, max_steps=a.steps,
                             learning_rate=1e-3, warmup_steps=5, lr_scheduler_type="constant_with_warmup",
                             weight_decay=0.0, max_grad_norm=1.0, logging_steps=1, save_strategy="no",
                             report_to=[], use_cpu=True, seed=ws.cfg.project.seed, dataloader_num_workers=0,
                             adam_beta1=0.9, adam_beta2=0.95)
    trainer = Trainer(model=model, args=args, train_dataset=Blocks())
    t0 = time.perf_counter()
    trainer.train()
    hf_s = time.perf_counter() - t0
    hf_loss = float(np.mean([h["loss"] for h in trainer.state.log_history if "loss" in h][-10:]))

    tokens = a.steps * a.batch * a.seq
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, {a.steps} steps x {a.batch} x {a.seq}")
    print(f"zaomo loop : {ours_loop_tps:10.0f} tokens/s in the training steps; {tokens / ours_s:.0f} tokens/s end to "
          f"end ({ours_s:.1f} s, incl. tokenisation, validation, checkpoint and saving)  last-10 loss {ours_loss:.4f}")
    print(f"HF Trainer : {tokens / hf_s:10.0f} tokens/s  ({hf_s:.1f} s)  last-10 loss {hf_loss:.4f}")
    print(f"ratio      : {ours_loop_tps / (tokens / hf_s):.2f}x training steps, {hf_s / ours_s:.2f}x end to end")


if __name__ == "__main__":
    main()
