"""GPU training throughput: zaomo's loop against anchors measured in the same run.

    python benchmarks/bench_train_gpu.py --case minimind [--minimind-dir PATH]   # seq 340, batch 32, accum 8
    python benchmarks/bench_train_gpu.py --case 124m                             # seq 1024, batch 32: tok/s, MFU
    python benchmarks/bench_train_gpu.py --case lora-1b | qlora-1b               # tok/s, peak memory vs plain peft
    python benchmarks/bench_train_gpu.py --case all
    python benchmarks/bench_train_gpu.py --case 124m --smoke                     # tiny shapes, any device

Data: a generated corpus of pseudo-words (Zipf-distributed, seeded) and a byte-level BPE trained on it with
the case's vocabulary (6,400 for minimind, 32,000 otherwise), so shapes match the issue's figures.
zaomo runs through `run_training` (bf16, fused AdamW, packing, `train.compile`), timed over its logged steps.
Anchors, each on the same shapes in the same process:
- `hf`: a plain transformers Llama of the same config, bf16 autocast, fused AdamW, torch.compile — the usual
  hand-written loop;
- `minimind` (with --minimind-dir, a checkout of jingyaogong/minimind outside this tree): its
  `MiniMindForCausalLM` stepped the way its train_pretrain.py steps it (autocast bf16, accumulation 8,
  clip 1.0), eager and compiled.
MFU as nanoGPT computes it: (6·N + 12·L·H·Q·T) FLOPs per token × tokens/s / 989 TFLOP/s (H100 bf16 dense).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CASES = {  # preset, seq, micro-batch, accumulation, vocab, method
    "minimind": ("minimind", 340, 32, 8, 6400, "full"),
    "124m": ("124m", 1024, 32, 1, 32000, "full"),
    "lora-1b": ("1b", 1024, 8, 1, 32000, "lora"),
    "qlora-1b": ("1b", 1024, 8, 1, 32000, "qlora"),
}
PEAK_FLOPS = 989e12


def pseudo_corpus(path: Path, n_words: int, vocab_words: int, seed: int = 0) -> None:
    """Zipf-distributed pseudo-words, so BPE reaches a large vocabulary the way real text does."""
    rng = random.Random(seed)
    syll = [a + b for a in "bcdfghjklmnprstvwz" for b in "aeiou"] + list("的一是在不了有和人这中大为上个国我以要他")
    words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(vocab_words)]
    weights = [1 / (i + 1) for i in range(vocab_words)]
    with open(path, "w", encoding="utf-8") as f:
        left = n_words
        while left > 0:
            k = min(200, left)
            f.write(json.dumps({"text": " ".join(rng.choices(words, weights, k=k)) + "。"}, ensure_ascii=False) + "\n")
            left -= k


def flops_per_token(model, seq: int) -> float:
    c = model.config
    n = sum(p.numel() for p in model.parameters())
    return 6 * n + 12 * c.num_hidden_layers * c.num_attention_heads * (c.hidden_size // c.num_attention_heads) * seq


def peak_mem_gb() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")


def run_zaomo(root: Path, case: str, steps: int, smoke: bool) -> dict:
    import torch

    from zaomo.train import run_training
    from zaomo.workspace import Workspace

    preset, seq, batch, accum, _vocab, method = CASES[case]
    over = [f"model.preset={preset}", f"model.seq_len={seq}", f"train.batch_size={batch}",
            f"train.grad_accum={accum}", f"train.max_steps={steps}", "train.warmup_steps=2", "train.log_every=1",
            "train.eval_every=100000", "train.save_every=100000", "train.schedule=constant", "train.lr=3e-4",
            f"train.method={method}", "train.output_name=bench-" + case, "train.tensorboard=false",
            f"train.compile={str(method == 'full' and not smoke).lower()}", "project.device=auto"]
    if method != "full":  # adapters train on top of a (random) base of the same preset
        over.append("train.stage=pretrain")
    if smoke:
        over += ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=4", "model.num_kv_heads=2",
                 "model.intermediate_size=128"]
    if method != "full":  # LoRA/QLoRA fine-tune a pretrained base: a random one of the preset, saved as HF
        from transformers import AutoTokenizer

        from zaomo.model.build import build_model
        from zaomo.model.load import save_model

        shape = Workspace.open(root, overrides=[o for o in over if not o.startswith("train.method")])
        base = root / f"base-{case}"
        if not base.exists():
            tok = AutoTokenizer.from_pretrained(shape.tokenizer_dir)
            save_model(build_model(shape.cfg.model, tok, seed=0), tok, base)
        over.append(f"model.base={base}")
    ws = Workspace.open(root, overrides=over)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    res = run_training(ws, progress=False)
    rows = [json.loads(x) for x in (ws.run_dir(res.run_id) / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "elapsed_s" in r]
    # steady state: from the end of the warm-up steps (compile included there) to the last step, real tokens
    w = min(max(1, len(rows) // 5), len(rows) - 1) if len(rows) > 1 else 0
    a, b = rows[w - 1] if w else {"elapsed_s": 0.0, "tokens_seen": 0}, rows[-1]
    tps = (b["tokens_seen"] - a["tokens_seen"]) / max(1e-9, b["elapsed_s"] - a["elapsed_s"])
    return {"tokens_per_s": tps, "tokens": b["tokens_seen"] - a["tokens_seen"], "loss": rows[-1].get("loss"),
            "peak_gb": peak_mem_gb(), "model_dir": res.model_dir, "base": root / f"base-{case}"}


def peft_anchor(base: Path, method: str, seq: int, batch: int, steps: int) -> tuple[float, float]:
    """Plain peft on the same base and shapes, the way its docs set it up: LoRA r=8 on every linear layer of the
    attention and MLP, bf16 base (NF4 + prepare_model_for_kbit_training for QLoRA), fused AdamW, bf16 autocast.
    Returns (tokens/s over the steps after warm-up, peak GiB)."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    dev = "cuda" if cuda else "cpu"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    kw: dict = {"dtype": torch.bfloat16}
    if method == "qlora":
        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_use_double_quant=True,
                                                       bnb_4bit_compute_dtype=torch.bfloat16)
        kw["device_map"] = {"": dev if not cuda else 0}
    model = AutoModelForCausalLM.from_pretrained(base, **kw)
    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model = model.to(dev)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4, fused=True)
    x = torch.randint(0, model.config.vocab_size, (batch, seq), device=dev)

    def step():
        with torch.autocast(dev, dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    tps = time_steps(step, steps, batch * seq)
    return tps, peak_mem_gb()


def time_steps(step, steps: int, tokens_per_step: int, warmup: int = 3) -> float:
    import torch

    for _ in range(warmup):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return steps * tokens_per_step / (time.perf_counter() - t0)


def hf_anchor(model, seq: int, batch: int, accum: int, steps: int, compile_: bool) -> float:
    """The usual hand-written loop on a plain transformers model."""
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    fwd = torch.compile(model) if compile_ else model
    x = torch.randint(0, model.config.vocab_size, (batch, seq), device=dev)

    def step():
        for _ in range(accum):
            with torch.autocast(dev, dtype=torch.bfloat16):
                loss = fwd(input_ids=x, labels=x, use_cache=False).loss / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return time_steps(step, steps, batch * seq * accum)


def minimind_anchor(repo: Path, vocab: int, seq: int, batch: int, accum: int, steps: int, compile_: bool) -> float:
    """minimind's own model class, stepped as its pretraining script steps it."""
    import torch

    sys.path.insert(0, str(repo))
    from model.model_minimind import MiniMindConfig, MiniMindForCausalLM  # type: ignore[import-not-found]

    model = MiniMindForCausalLM(MiniMindConfig(hidden_size=768, num_hidden_layers=8, vocab_size=vocab)).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    fwd = torch.compile(model) if compile_ else model
    x = torch.randint(0, vocab, (batch, seq), device="cuda")

    def step():
        for _ in range(accum):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = fwd(input_ids=x, labels=x)
                loss = (out.loss + getattr(out, "aux_loss", 0)) / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return time_steps(step, steps, batch * seq * accum)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="all", choices=[*CASES, "all"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--minimind-dir", type=Path)
    ap.add_argument("--smoke", action="store_true", help="tiny shapes and few steps: checks the script anywhere")
    a = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from zaomo.model.tokenizer import train_bpe
    from zaomo.workspace import Workspace

    if not torch.cuda.is_available() and not a.smoke:
        sys.exit("bench_train_gpu.py needs a CUDA GPU (use --smoke to check the script on CPU)")
    cases = list(CASES) if a.case == "all" else [a.case]
    print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}, "
          f"torch {torch.__version__}")
    for case in cases:
        preset, seq, batch, accum, vocab, method = CASES[case]
        steps = 2 if a.smoke else a.steps
        if a.smoke:
            seq, batch, accum, vocab = 64, 2, min(accum, 2), 600
            CASES[case] = (preset, seq, batch, accum, vocab, method)
        root = Path(tempfile.mkdtemp(prefix=f"zaomo-gpu-{case}-"))
        Workspace.init(root)
        clean = root / "data" / "clean"
        clean.mkdir(parents=True, exist_ok=True)
        need = steps * batch * accum * seq * 2 + 50_000
        pseudo_corpus(clean / "train.jsonl", need, vocab * 2)
        texts = (json.loads(line)["text"] for line in open(clean / "train.jsonl", encoding="utf-8"))
        train_bpe(texts, vocab, root / "tokenizer", model_max_length=seq)
        z = run_zaomo(root, case, steps, a.smoke)
        row = {"case": case, "zaomo_tokens_per_s": round(z["tokens_per_s"]), "zaomo_peak_gb": round(z["peak_gb"], 2)}
        row["zaomo_tokens_in_window"] = z["tokens"]
        if method in ("lora", "qlora"):
            tps, peak = peft_anchor(z["base"], method, seq, batch, steps)
            row.update(peft_tokens_per_s=round(tps), peft_peak_gb=round(peak, 2),
                       ratio_vs_peft=round(z["tokens_per_s"] / tps, 2))
        if method == "full":
            model = AutoModelForCausalLM.from_pretrained(z["model_dir"])
            fpt = flops_per_token(model, seq)
            row["zaomo_mfu"] = round(z["tokens_per_s"] * fpt / PEAK_FLOPS, 4)
            for compile_ in (False, True) if torch.cuda.is_available() else (False,):
                fresh = AutoModelForCausalLM.from_config(model.config)
                tps = hf_anchor(fresh, seq, batch, accum, steps, compile_)
                row[f"hf{'_compiled' if compile_ else ''}_tokens_per_s"] = round(tps)
                row[f"hf{'_compiled' if compile_ else ''}_mfu"] = round(tps * fpt / PEAK_FLOPS, 4)
            if case == "minimind" and a.minimind_dir and torch.cuda.is_available():
                for compile_ in (False, True):
                    tps = minimind_anchor(a.minimind_dir, vocab, seq, batch, accum, steps, compile_)
                    row[f"minimind{'_compiled' if compile_ else ''}_tokens_per_s"] = round(tps)
                row["ratio_vs_minimind"] = round(z["tokens_per_s"] / row["minimind_tokens_per_s"], 2)
                row["ratio_vs_minimind_compiled"] = round(z["tokens_per_s"] / row["minimind_compiled_tokens_per_s"], 2)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
