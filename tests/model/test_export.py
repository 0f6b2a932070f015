"""GGUF and ONNX export of tiny models: what is written reads back equal (or within the stated error)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from bases import make_base  # noqa: E402

gguf = pytest.importorskip("gguf")


def _hf_weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().float().numpy() for k, v in model.state_dict().items()}


def _read(path):
    reader = gguf.GGUFReader(str(path))
    fields = {name: f for name, f in reader.fields.items()}
    tensors = {}
    for t in reader.tensors:
        data = np.asarray(t.data)
        if t.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            data = gguf.quants.dequantize(data, t.tensor_type)
        tensors[t.name] = data.astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
    return fields, tensors


def _str(field) -> str:
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def _int(field):
    return field.parts[field.data[0]][0].item()


def test_rope_permute_matches_llama_cpp_rope():
    """HF rotates halves (i, i + d/2); ggml's normal RoPE rotates adjacent pairs (2i, 2i+1). Permuted rows
    under pairwise RoPE must equal HF's rotate-half RoPE of the original rows, up to that same permutation."""
    from zaomo.model.export_gguf import rope_permute, rope_unpermute

    rng = np.random.default_rng(0)
    n_head, d, hidden, pos = 2, 8, 16, 5
    w, x = rng.normal(size=(n_head * d, hidden)), rng.normal(size=hidden)
    theta = 10000.0 ** (-np.arange(d // 2) * 2 / d) * pos
    cos, sin = np.cos(theta), np.sin(theta)
    q = (w @ x).reshape(n_head, d)
    a, b = q[:, : d // 2], q[:, d // 2:]
    hf = np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=1)
    qp = (rope_permute(w, n_head) @ x).reshape(n_head, d)
    e, o = qp[:, 0::2], qp[:, 1::2]
    ggml = np.stack([e * cos - o * sin, o * cos + e * sin], axis=-1).reshape(n_head, d)
    assert np.allclose(rope_unpermute(ggml.reshape(-1, 1), n_head).reshape(n_head, d), hf)
    assert np.array_equal(rope_unpermute(rope_permute(w, n_head), n_head), w)


def _check(path, model, tokenizer, arch: str, atol: float):
    from zaomo.model.export_gguf import gguf_name, rope_unpermute

    fields, tensors = _read(path)
    cfg = model.config
    assert _str(fields["general.architecture"]) == arch
    assert _int(fields[f"{arch}.block_count"]) == cfg.num_hidden_layers
    assert _int(fields[f"{arch}.embedding_length"]) == cfg.hidden_size
    assert _int(fields[f"{arch}.attention.head_count"]) == cfg.num_attention_heads
    assert _int(fields[f"{arch}.attention.head_count_kv"]) == cfg.num_key_value_heads
    assert _int(fields[f"{arch}.context_length"]) == cfg.max_position_embeddings
    assert _int(fields[f"{arch}.vocab_size"]) == cfg.vocab_size
    assert _str(fields["tokenizer.ggml.model"]) == "gpt2"
    assert _str(fields["tokenizer.chat_template"]) == tokenizer.chat_template
    tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in fields["tokenizer.ggml.tokens"].data]
    assert len(tokens) == cfg.vocab_size
    vocab = tokenizer.get_vocab()
    assert all(tokens[i] == t for t, i in vocab.items() if i < cfg.vocab_size)
    assert len(fields["tokenizer.ggml.merges"].data) > 0
    assert _int(fields["tokenizer.ggml.eos_token_id"]) == tokenizer.eos_token_id
    worst = 0.0
    for hf_name, w in _hf_weights(model).items():
        name = gguf_name(hf_name)
        if name is None or (cfg.tie_word_embeddings and name == "output.weight"):
            continue
        got = tensors[name]
        if arch == "llama" and ".attn_q." in name:
            got = rope_unpermute(got, cfg.num_attention_heads)
        elif arch == "llama" and ".attn_k." in name:
            got = rope_unpermute(got, cfg.num_key_value_heads)
        assert got.shape == w.shape, name
        worst = max(worst, float(np.abs(got - w).max() / (np.abs(w).max() + 1e-12)))
    assert worst <= atol, worst
    return fields, worst


@pytest.mark.parametrize("ftype,atol", [("f32", 0.0), ("f16", 1e-3), ("bf16", 8e-3), ("q8_0", 1e-2)])
def test_gguf_tiny_llama(tiny_model_dir, tmp_path, ftype, atol):
    from zaomo.model.export_gguf import export_gguf
    from zaomo.model.load import load_model

    model, tok = load_model(tiny_model_dir, device="cpu", dtype="fp32")
    path = export_gguf(model, tok, tmp_path / "model.gguf", ftype=ftype)
    fields, _ = _check(path, model, tok, "llama", atol)
    assert _int(fields["general.file_type"]) == {"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}[ftype]


@pytest.mark.parametrize("family,arch", [("chatml", "qwen2"), ("llama3", "llama")])
def test_gguf_hf_bases(tmp_path, family, arch):
    from zaomo.model.export_gguf import export_gguf
    from zaomo.model.load import load_model

    model, tok = load_model(make_base(tmp_path, family), device="cpu", dtype="fp32")
    path = export_gguf(model, tok, tmp_path / "model.gguf", ftype="f32")
    _check(path, model, tok, arch, 0.0)
    if arch == "qwen2":
        _, tensors = _read(path)
        assert "blk.0.attn_q.bias" in tensors


def test_cli_gguf_and_modelfile(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from zaomo.cli.main import app

    out = tmp_path / "gguf"
    r = CliRunner().invoke(app, ["export", str(tiny_model_dir), str(out), "--format", "gguf",
                                 "--gguf-type", "q8_0"])
    assert r.exit_code == 0, r.output
    assert (out / "model.gguf").stat().st_size > 0
    modelfile = (out / "Modelfile").read_text(encoding="utf-8")
    assert modelfile.startswith("FROM ./model.gguf")
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "{{ .Prompt }}" in modelfile and "<|im_start|>assistant\n{{ .Response }}<|im_end|>" in modelfile


def test_gguf_missing_package_names_the_extra(tiny_model_dir, tmp_path, monkeypatch):
    from zaomo.model.export_gguf import export_gguf
    from zaomo.model.load import load_model

    model, tok = load_model(tiny_model_dir, device="cpu", dtype="fp32")
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ImportError, match=r"zaomo\[export\]"):
        export_gguf(model, tok, tmp_path / "m.gguf")


@pytest.mark.parametrize("family", ["chatml", "llama3"])
def test_llama_cpp_greedy_equals_transformers(tmp_path, family):
    """The GGUF file run by llama.cpp itself (llama-cpp-python, when it is installed: it builds from source)
    continues a chat prompt exactly as the transformers model does, greedily."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import torch

    from zaomo.model.chat import prompt_ids
    from zaomo.model.export_gguf import export_gguf
    from zaomo.model.load import load_model

    model, tok = load_model(make_base(tmp_path, family), device="cpu", dtype="fp32")
    with torch.no_grad():  # scaled weights: greedy text that depends on the prompt (a random init repeats itself)
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(4.0)
    path = export_gguf(model, tok, tmp_path / "model.gguf", ftype="f32")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False, seed=0)
    outs = []
    for q in ("研发部的负责人是谁？", "Hello, who are you?"):
        ids = prompt_ids(tok, [{"role": "user", "content": q}])
        text = tok.decode(ids)  # llama.cpp tokenizes the rendered prompt as transformers does (its pre-tokenizer)
        assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) == ids
        with torch.no_grad():
            ref = model.generate(torch.tensor([ids]), max_new_tokens=12, min_new_tokens=12, do_sample=False,
                                 pad_token_id=tok.pad_token_id)[0, len(ids):].tolist()
        llm.reset()
        got = []
        for t in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
            got.append(t)
            if len(got) == 12:
                break
        assert got == ref
        outs.append(tuple(ref))
    assert outs[0] != outs[1]
