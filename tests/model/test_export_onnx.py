"""ONNX export with a KV cache: ONNX Runtime logits and greedy decoding equal PyTorch's on a tiny Llama."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

FP32_ATOL = 1e-4
INT8_ATOL = 0.1  # max |Δlogit| after int8 dynamic quantisation (measured ~1e-2 on the tiny model)


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tmp_path_factory):
    from zaomo.model.export_onnx import export_onnx
    from zaomo.model.load import load_model

    model, tok = load_model(tiny_model_dir, device="cpu", dtype="fp32")
    out = export_onnx(model, tok, tmp_path_factory.mktemp("onnx"), int8=True)
    return model, tok, out


def _torch_logits(model, ids, mask):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()


def test_onnx_logits_match_torch(exported):
    from zaomo.model.onnx_lm import OnnxCausalLM

    model, tok, out = exported
    ids = np.random.default_rng(0).integers(0, len(tok), size=(3, 9))
    mask = np.ones_like(ids)
    mask[1, :4] = 0  # left padding
    ref = _torch_logits(model, ids, mask)
    got = OnnxCausalLM(out).logits(ids, mask)
    keep = mask.astype(bool)
    assert np.abs(got - ref)[keep].max() < FP32_ATOL


def test_onnx_kv_cache_greedy_matches_generate(exported):
    import torch

    from zaomo.model.onnx_lm import OnnxCausalLM

    model, tok, out = exported
    prompt = tok("Hello, how can I help", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        ref = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, min_new_tokens=12,
                             pad_token_id=tok.pad_token_id)[0, len(prompt):].tolist()
    assert OnnxCausalLM(out).greedy(prompt, 12) == ref


def test_onnx_int8_close(exported):
    from zaomo.model.onnx_lm import OnnxCausalLM

    model, tok, out = exported
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size
    ids = np.random.default_rng(1).integers(0, len(tok), size=(2, 8))
    ref = _torch_logits(model, ids, np.ones_like(ids))
    got = OnnxCausalLM(out, int8=True).logits(ids)
    assert np.abs(got - ref).max() < INT8_ATOL


def test_cli_onnx(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from zaomo.cli.main import app

    r = CliRunner().invoke(app, ["export", str(tiny_model_dir), str(tmp_path / "o"), "--format", "onnx"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "model.onnx").exists() and (tmp_path / "o" / "tokenizer.json").exists()
    assert not (tmp_path / "o" / "model.int8.onnx").exists()
