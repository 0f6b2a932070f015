"""Load a model directory (full model or peft adapter) with its tokenizer in the precision asked for, and
save one the standard way: safetensors, tokenizer with chat template, and generation_config.json whose EOS
list stops chat at the template's own end of turn."""

from __future__ import annotations

import json
from pathlib import Path

from .chat import stop_ids

DTYPES = ("auto", "bf16", "fp16", "fp32")


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str | object | None, device: str = "auto"):
    """`model.dtype` → a torch dtype. auto: bf16 on a GPU that has it (fp16 on one that does not), fp32 on CPU
    — the figures `zaomo plan` assumes for inference and for a frozen LoRA base."""
    import torch

    if dtype is not None and not isinstance(dtype, str):
        return dtype  # already a torch.dtype
    name = dtype or "auto"
    if name not in DTYPES:
        raise ValueError(f"model.dtype: {name!r} is not one of {', '.join(DTYPES)}")
    if name == "auto":
        dev = pick_device(device)
        if dev == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def adapter_base(path: str | Path) -> str | None:
    """The base model a peft adapter directory was trained on (None for a full model)."""
    cfg = Path(path) / "adapter_config.json"
    if not cfg.exists():
        return None
    return json.loads(cfg.read_text(encoding="utf-8"))["base_model_name_or_path"]


def is_prompt_learning(path: str | Path) -> bool:
    cfg = Path(path) / "adapter_config.json"
    return cfg.exists() and json.loads(cfg.read_text(encoding="utf-8")).get("peft_type") in (
        "PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING")


def load_model(path: str | Path, device: str = "auto", dtype: str | object | None = "auto"):
    """(model, tokenizer) from a HF dir or hub id. A LoRA adapter is merged into its base (loaded in `dtype`,
    never quantised); a prefix/prompt-tuning adapter stays a PeftModel (its virtual tokens cannot be merged)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(path)
    dev = pick_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    base = adapter_base(path)
    if base is not None:
        from peft import PeftModel

        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype)
        model = PeftModel.from_pretrained(model, path)
        if not model.active_peft_config.is_prompt_learning:
            model = model.merge_and_unload()
        tok_src = path if (Path(path) / "tokenizer_config.json").exists() else base
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        tok_src = path
    tok = AutoTokenizer.from_pretrained(tok_src)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.to(dev).eval()
    return model, tok


def save_model(model, tokenizer, out: str | Path, state_dict: dict | None = None) -> Path:
    """Standard HF dir; generation stops at every EOS the chat template uses. `state_dict`: the full weights
    when the model itself holds only a shard of them (FSDP, ZeRO-3)."""
    from transformers import GenerationConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(out)
    ids = stop_ids(tokenizer, model)
    if hasattr(model, "generation_config") and ids:
        gen = GenerationConfig(eos_token_id=ids, pad_token_id=tokenizer.pad_token_id, do_sample=False,
                               max_new_tokens=256)
        gen.save_pretrained(out)
    return out
