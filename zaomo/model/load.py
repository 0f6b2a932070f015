"""Load a model directory (full model or peft adapter) with its tokenizer, and save one the standard
way: safetensors, tokenizer with chat template, and generation_config.json whose EOS list stops chat."""

from __future__ import annotations

import json
from pathlib import Path


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def load_model(path: str | Path, device: str = "auto", dtype=None):
    """(model, tokenizer) from a HF dir or hub id; a peft adapter dir is loaded on its base and merged."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(path)
    dev = pick_device(device)
    adapter_cfg = Path(path) / "adapter_config.json"
    if adapter_cfg.exists():
        from peft import PeftModel

        base = json.loads(adapter_cfg.read_text(encoding="utf-8"))["base_model_name_or_path"]
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype or torch.float32)
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
        tok_src = path if (Path(path) / "tokenizer_config.json").exists() else base
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
        tok_src = path
    tok = AutoTokenizer.from_pretrained(tok_src)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.to(dev).eval()
    return model, tok


def eos_ids(tokenizer) -> list[int]:
    ids = []
    for t in ("<|im_end|>", "<|endoftext|>"):
        i = tokenizer.convert_tokens_to_ids(t)
        if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id:
            ids.append(i)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def save_model(model, tokenizer, out: str | Path) -> Path:
    """Standard HF dir; generation stops at every EOS the chat template uses."""
    from transformers import GenerationConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    ids = eos_ids(tokenizer)
    if hasattr(model, "generation_config") and ids:
        gen = GenerationConfig(eos_token_id=ids, pad_token_id=tokenizer.pad_token_id, do_sample=False,
                               max_new_tokens=256)
        gen.save_pretrained(out)
    return out
