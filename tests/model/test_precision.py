"""model.dtype is what the loaders do, for eval, serving, the harness bridge and a frozen LoRA base, and it
agrees with the bytes per parameter `zaomo plan` assumes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from zaomo.model.load import load_model, resolve_dtype
from zaomo.plan.memory import inference_memory_gb

sys.path.insert(0, str(Path(__file__).parent))
from bases import make_base  # noqa: E402


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_base(tmp_path_factory.mktemp("p"), "llama3")


def _bytes_per_param(model) -> float:
    ps = list(model.parameters())
    return sum(p.numel() * p.element_size() for p in ps) / sum(p.numel() for p in ps)


def test_auto_is_fp32_on_cpu_and_named_dtypes_are_honoured(base):
    assert resolve_dtype("auto", "cpu") == torch.float32
    for name, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)):
        model, _ = load_model(base, device="cpu", dtype=name)
        assert {p.dtype for p in model.parameters()} == {dt}
    with pytest.raises(ValueError, match="model.dtype"):
        resolve_dtype("int3")


def test_loaded_bytes_agree_with_the_plans_16_bit_inference_figure(base):
    model, _ = load_model(base, device="cpu", dtype="bf16")
    n = sum(p.numel() for p in model.parameters())
    assert _bytes_per_param(model) == 2
    # plan: weights at 16 bits = 2 bytes per parameter (the rest of its figure is KV cache and overhead)
    weights_gb = inference_memory_gb(n, bits=16, context=1) - inference_memory_gb(0, bits=16, context=1)
    assert weights_gb * 1e9 == pytest.approx(2 * n, rel=1e-6)


def test_eval_and_serving_load_in_model_dtype(tmp_path, base):
    from zaomo.eval.targets import LocalTarget
    from zaomo.serve.engines import BuiltinEngine

    assert _bytes_per_param(LocalTarget(base, device="cpu", dtype="bf16").model) == 2
    eng = BuiltinEngine(base, device="cpu", dtype="bf16")
    assert _bytes_per_param(eng.model) == 2


def test_lora_freezes_the_base_in_model_dtype(tmp_path, base, monkeypatch):
    """LoRA: the frozen base in bf16 (2 B/param, as plan assumes), the adapters in fp32."""
    import zaomo.train.loop as loop
    from zaomo.train import run_training

    sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
    from test_exact import _ws

    seen = {}
    wrap = loop.wrap_method

    def spy(ws, model, new_tokens=False):
        out = wrap(ws, model, new_tokens)
        seen["frozen"] = {p.dtype for p in out.parameters() if not p.requires_grad}
        seen["trained"] = {p.dtype for p in out.parameters() if p.requires_grad}
        return out

    monkeypatch.setattr(loop, "wrap_method", spy)
    run_training(_ws(tmp_path, base, ["train.method=lora", "model.dtype=bf16", "model.seq_len=160",
                                      "train.batch_size=4", "train.max_steps=2", "train.output_name=l"]),
                 progress=False)
    assert seen == {"frozen": {torch.bfloat16}, "trained": {torch.float32}}
