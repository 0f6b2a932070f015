"""The GPU paths of a real-base fine-tune, checked in one short run (issue: real base models end to end).

    python scripts/gpu_check.py --case all            # on a GPU machine, about 5 minutes on one H100/H200
    python scripts/gpu_check.py --case lora,qlora     # selectable cases
    python scripts/gpu_check.py --case all --smoke    # tiny shapes on CPU: checks the script itself

Cases (a randomly initialised Llama base saved in HF format first: 1B-class, or tiny with --smoke):
- lora:  LoRA SFT with the base frozen in bf16; killed after 4 steps and resumed (later losses equal the
         uninterrupted run's); exported merged in bf16; the export loads with from_pretrained.
- qlora: the same with the base in NF4 (bitsandbytes); the export is a bf16 directory with no quantisation.
- fsdp:  `accelerate launch` of `zaomo train` with examples/accelerate/fsdp.yaml on one GPU: starts, saves a
         model that loads with from_pretrained and gives the trained model's logits.
- zero3: the same with examples/accelerate/deepspeed-zero3.yaml (needs deepspeed).
Prints one JSON line per case ({"case", "ok", ...figures or "error"}) and a summary; exit 1 if any failed.
FSDP and ZeRO-3 are skipped under --smoke: accelerate enables them only on accelerator devices.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SFT = [{"messages": [{"role": "user", "content": f"问题{i}：研发部在哪里？"},
                     {"role": "assistant", "content": "研发部位于总部大楼3楼。" * (1 + i % 3)}]} for i in range(64)]


def make_base(root: Path, smoke: bool) -> Path:
    """A random Llama (1B-class: hidden 2048, 16 layers, GQA 32/8; tiny with --smoke) with zaomo's BPE."""
    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe

    texts = [m["content"] for r in SFT for m in r["messages"]] * 20
    tok = train_bpe(iter(texts), 600 if smoke else 2000, root / "tok", min_frequency=1)
    shape = dict(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2) if smoke else {}
    cfg = ModelConfig(preset="tiny" if smoke else "1b", seq_len=256, **shape)  # bnb's CPU kernel: widths of 64
    return save_model(build_model(cfg, tok, seed=0), tok, root / "base")


def workspace(root: Path, base: Path, extra: list[str]):
    from zaomo.utils.io import write_jsonl
    from zaomo.workspace import Workspace

    if not (root / "zaomo.yaml").exists():
        Workspace.init(root)
        write_jsonl(root / "data" / "sft" / "train.jsonl", SFT)
        write_jsonl(root / "data" / "sft" / "val.jsonl", SFT[:8])
    sets = [f"model.base={base}", "model.seq_len=256", "train.stage=sft", "train.batch_size=4", "train.max_steps=8",
            "train.save_every=4", "train.eval_every=4", "train.log_every=1", "train.lr=1e-3", "train.warmup_steps=1",
            "train.val_file=data/sft/val.jsonl", "train.tensorboard=false", "project.device=auto"] + extra
    return Workspace.open(root, overrides=sets), sets


def losses(ws, run_id: str) -> dict[int, float]:
    rows = [json.loads(x) for x in (ws.run_dir(run_id) / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def case_adapter(root: Path, base: Path, method: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from zaomo.train import run_training

    extra = [f"train.method={method}", f"train.output_name={method}", "train.lora.dropout=0"]
    t0 = time.perf_counter()
    ws, _ = workspace(root / method, base, extra)
    ref = run_training(ws, progress=False)
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    ws, _ = workspace(root / method, base, extra)
    cut = run_training(ws, progress=False, stop_after=4)
    ws, _ = workspace(root / method, base, extra)
    run_training(ws, progress=False, resume=cut.run_id)
    a, b = losses(ws, ref.run_id), losses(ws, cut.run_id)
    worst = max(abs(a[s] - b[s]) for s in a)
    cfg = json.loads((ref.model_dir / "config.json").read_text())
    dtype = cfg.get("dtype", cfg.get("torch_dtype"))
    AutoModelForCausalLM.from_pretrained(ref.model_dir)
    tol = 1e-4
    return {"ok": worst <= tol and "quantization_config" not in cfg, "resume_max_loss_diff": worst,
            "export_dtype": dtype, "peak_gib": peak, "seconds": round(time.perf_counter() - t0, 1),
            "tokens_per_s": ref.metrics.get("tokens_per_s")}


def case_launch(root: Path, base: Path, name: str, smoke: bool) -> dict:
    """`accelerate launch` of `zaomo train` with a shipped config on one process; the model must load and give
    the logits of the weights it was gathered from (compared against the adapter-free full run's output)."""
    import torch
    from transformers import AutoModelForCausalLM

    if smoke or not torch.cuda.is_available():
        return {"ok": None, "skipped": "FSDP/DeepSpeed need a GPU (accelerate enables them only on accelerators)"}
    if name == "zero3":
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            return {"ok": False, "error": "deepspeed is not installed (pip install 'zaomo[gpu]')"}
    cfg = ROOT / "examples" / "accelerate" / ("fsdp.yaml" if name == "fsdp" else "deepspeed-zero3.yaml")
    ws, sets = workspace(root / name, base, ["train.method=full", f"train.output_name={name}"])
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(cfg), "--num_processes", "1",
           "-m", "zaomo.cli.main", "train", "-w", str(ws.root)]
    for s in sets + ["train.method=full", f"train.output_name={name}"]:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return {"ok": False, "error": (r.stdout + r.stderr)[-3000:]}
    out = ws.root / "models" / name
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    x = torch.randint(0, model.config.vocab_size, (1, 16))
    with torch.no_grad():
        finite = bool(torch.isfinite(model(input_ids=x).logits).all())
    n_ckpt = len(list((ws.root / "runs").glob("*/checkpoints/step-*")))
    return {"ok": finite and n_ckpt > 0, "seconds": round(time.perf_counter() - t0, 1), "checkpoints": n_ckpt}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default="all", help="lora,qlora,fsdp,zero3 or all")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on CPU")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    cases = ["lora", "qlora", "fsdp", "zero3"] if args.case == "all" else args.case.split(",")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = make_base(root, args.smoke)
        for c in cases:
            try:
                res = case_adapter(root, base, c) if c in ("lora", "qlora") else case_launch(root, base, c, args.smoke)
            except Exception as e:  # noqa: BLE001 - one failing path must not hide the others
                res = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]}
            res = {"case": c, **res}
            print(json.dumps(res, ensure_ascii=False), flush=True)
            results.append(res)
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    failed = [r["case"] for r in results if r["ok"] is False]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
