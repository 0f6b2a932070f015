"""CPU training throughput: zaomo's loop vs Hugging Face `Trainer`, same model, data, batch and steps.

    python benchmarks/bench_train_cpu.py [--steps 60] [--hidden 256] [--layers 4] [--seq 256] [--batch 8]
        [--modes fp32,bf16-compile]

Both start from the same initial weights and see the same packed blocks; prints tokens/s of each, the
ratio, and the mean loss of the last 10 steps of each. Each mode runs both sides with the same settings:
`fp32` (eager, both defaults) and `bf16-compile` (bf16 autocast on CPUs with AMX/AVX512-BF16 plus
torch.compile: zaomo `train.precision=bf16 train.compile=true`, Trainer `bf16=True torch_compile=True`).
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
    ap.add_argument("--modes", default="fp32,bf16-compile")
    a = ap.parse_args()
    modes = a.modes.split(",")
    if len(modes) > 1:  # accelerate's precision is per process: one child process per mode
        import subprocess
        import sys

        results = {}
        for mode in modes:
            argv = [sys.executable, __file__, "--steps", str(a.steps), "--hidden", str(a.hidden), "--layers",
                    str(a.layers), "--seq", str(a.seq), "--batch", str(a.batch), "--modes", mode]
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            print(out, end="")
            results[mode] = json.loads(out.strip().splitlines()[-1].removeprefix("RESULT "))
        if "fp32" in results and "bf16-compile" in results:
            print(f"zaomo bf16-compile vs HF Trainer defaults (fp32): "
                  f"{results['bf16-compile']['ours'] / results['fp32']['hf']:.2f}x")
        return

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

    from transformers import AutoTokenizer

    from zaomo.model.build import build_model

    tok = AutoTokenizer.from_pretrained(ws.tokenizer_dir)
    ds = PackedDataset(pretokenize([ws.clean_dir / "train.jsonl"], tok, root / "data" / "tokens"), a.seq)

    class Blocks(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            x = ds[i]
            return {"input_ids": torch.from_numpy(x["input_ids"]), "labels": torch.from_numpy(x["labels"])}

    tokens = a.steps * a.batch * a.seq
    for mode in modes:
        fast = mode == "bf16-compile"
        wsm = Workspace.open(root, overrides=over + [f"train.precision={'bf16' if fast else 'fp32'}",
                                                     f"train.compile={str(fast).lower()}"])
        t0 = time.perf_counter()
        res = run_training(wsm, progress=False)
        ours_s = time.perf_counter() - t0
        rows = [json.loads(x) for x in (root / "runs" / res.run_id / "metrics.jsonl").read_text().splitlines()]
        ours_loss = float(np.mean([r["loss"] for r in rows if "loss" in r][-10:]))
        ours_tps = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r][-1]

        # HF Trainer on the same blocks, same initial weights (rebuilt with the same seed)
        model = build_model(ws.cfg.model, tok, seed=ws.cfg.project.seed)
        args = TrainingArguments(output_dir=str(root / f"hf-{mode}"), per_device_train_batch_size=a.batch,
                                 max_steps=a.steps, learning_rate=1e-3, warmup_steps=5,
                                 lr_scheduler_type="constant_with_warmup", weight_decay=0.0, max_grad_norm=1.0,
                                 logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                                 seed=ws.cfg.project.seed, dataloader_num_workers=0, adam_beta1=0.9,
                                 adam_beta2=0.95, bf16=fast, torch_compile=fast)
        trainer = Trainer(model=model, args=args, train_dataset=Blocks())
        t0 = time.perf_counter()
        trainer.train()
        hf_s = time.perf_counter() - t0
        hf_loss = float(np.mean([h["loss"] for h in trainer.state.log_history if "loss" in h][-10:]))
        print(f"[{mode}] model {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
              f"{a.steps} steps x {a.batch} x {a.seq}")
        print(f"[{mode}] zaomo loop : {ours_tps:8.0f} tokens/s in the training steps ({tokens / ours_s:.0f} end to "
              f"end, {ours_s:.1f} s incl. tokenisation, validation, checkpoint, saving)  last-10 loss {ours_loss:.4f}")
        print(f"[{mode}] HF Trainer : {tokens / hf_s:8.0f} tokens/s ({hf_s:.1f} s, compile time included)  "
              f"last-10 loss {hf_loss:.4f}")
        print(f"[{mode}] ratio      : {ours_tps / (tokens / hf_s):.2f}x")
        print("RESULT " + json.dumps({"ours": ours_tps, "hf": tokens / hf_s}))

if __name__ == "__main__":
    main()
