"""QLoRA for real on CPU (bitsandbytes 4-bit has a CPU backend): the base is loaded in NF4 with every other
module in the compute dtype, adapters train, and export merges into a fresh bf16 load of the base — a
standard bf16 directory with no quantisation left in it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from zaomo.train import run_training
from zaomo.workspace import Workspace

pytest.importorskip("bitsandbytes")
sys.path.insert(0, str(Path(__file__).parents[1] / "model"))
sys.path.insert(0, str(Path(__file__).parent))
from bases import make_base  # noqa: E402
from test_exact import _ws  # noqa: E402


def test_qlora_trains_in_nf4_and_exports_a_bf16_model(tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    import zaomo.train.loop as loop

    base = make_base(tmp_path / "b", "llama3")
    seen = {}
    wrap = loop.wrap_method

    def spy(ws, model, new_tokens=False):
        out = wrap(ws, model, new_tokens)
        seen["linear"] = type(model.model.layers[0].self_attn.q_proj).__name__
        seen["frozen_dtypes"] = {p.dtype for n, p in out.named_parameters() if not p.requires_grad}
        seen["embed"] = model.model.embed_tokens.weight.dtype
        return out

    monkeypatch.setattr(loop, "wrap_method", spy)
    res = run_training(_ws(tmp_path / "w", base, ["train.method=qlora", "model.seq_len=160", "train.batch_size=4", "train.max_steps=6",
                                                  "train.lr=1e-2", "train.eval_every=3", "train.output_name=q"]),
                       progress=False)
    assert seen["linear"] == "Linear4bit" and seen["embed"] == torch.bfloat16
    assert seen["frozen_dtypes"] <= {torch.uint8, torch.bfloat16}  # 4-bit weights packed, the rest bf16
    rows = [json.loads(x) for x in (Workspace.open(tmp_path / "w").run_dir(res.run_id) / "metrics.jsonl")
            .read_text().splitlines()]
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    assert vals[-1] < vals[0]

    cfg = json.loads((res.model_dir / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg.get("dtype", cfg.get("torch_dtype")) == "bfloat16"
    merged = AutoModelForCausalLM.from_pretrained(res.model_dir)
    assert merged.model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    # the merge equals the adapter applied on a bf16 base
    ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16),
                                    str(res.adapter_dir)).eval()
    x = torch.randint(0, 300, (2, 24))
    with torch.no_grad():
        a, b = ref(input_ids=x).logits.float(), merged.eval()(input_ids=x).logits.float()
    assert (a - b).abs().max().item() < 0.05 * a.abs().max().item()  # bf16 rounding of W + BA
