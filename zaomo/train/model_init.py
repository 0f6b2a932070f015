"""The model a run trains: a preset built from scratch, or a pretrained base loaded in the precision its method
needs (full: fp32 master weights under mixed precision; LoRA / prefix: the frozen base in `model.dtype`;
QLoRA: the base in 4-bit NF4 with every other module in the compute dtype), then wrapped by peft.

Export merges a LoRA/QLoRA adapter into a fresh 16/32-bit load of the base — never into 4-bit weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..model.chat import ensure_template, set_template
from ..model.load import adapter_base, load_model, resolve_dtype
from ..utils.env import optional_import
from ..workspace import Workspace


def base_path(ws: Workspace) -> str | None:
    """`train.init_from` or `model.base` as a local path (registered names resolved) or a hub id."""
    src = ws.cfg.train.init_from or ws.cfg.model.base
    if not src:
        return None
    if Path(src).is_absolute():
        return src
    if ws.path(src).is_dir() or ":" in src or (ws.models_dir / src).is_dir() or ws.registry.get_model(src):
        return str(ws.resolve_model(src))
    return src


def compute_dtype(ws: Workspace, device: str) -> torch.dtype:
    """QLoRA's compute dtype: model.dtype when 16-bit, else bf16 (fp16 on a GPU without bf16)."""
    d = ws.cfg.model.dtype
    if d in ("bf16", "fp16"):
        return resolve_dtype(d, device)
    if device == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def load_dtype(ws: Workspace, device: str) -> torch.dtype:
    """Weights as loaded for training: fp32 for full training (the optimizer updates them), `model.dtype`
    for a frozen base under LoRA / prefix, the compute dtype under QLoRA."""
    method = ws.cfg.train.method
    if method == "full":
        return torch.float32
    if method == "qlora":
        return compute_dtype(ws, device)
    return resolve_dtype(ws.cfg.model.dtype, device)


def init_model(ws: Workspace, device: str) -> tuple[Any, Any, str | None, bool]:
    """(model, tokenizer, base path, whether the template added tokens) for this run, with the chat template
    the run trains in."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg, t = ws.cfg, ws.cfg.train
    src = base_path(ws)
    if t.method == "qlora" and not src:
        raise ValueError("train.method=qlora quantises a pretrained base: set model.base or train.init_from "
                         "(from scratch, use train.method=full or lora)")
    if t.stage == "reward":  # the config already refuses methods other than full / lora here
        if not src:
            raise ValueError("train.stage=reward puts a scoring head on a trained model: set train.init_from (or "
                             "model.base)")
        return _reward_model(src, load_dtype(ws, device))
    if src:
        dtype = load_dtype(ws, device)
        if adapter_base(src) is not None:
            model, tok = load_model(src, device="cpu", dtype=dtype)
        else:
            kwargs: dict[str, Any] = {}
            if t.method == "qlora":
                optional_import("bitsandbytes", "gpu", "QLoRA (train.method=qlora)")
                from transformers import BitsAndBytesConfig

                kwargs["quantization_config"] = BitsAndBytesConfig(
                    load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=dtype)
                kwargs["device_map"] = {"": torch.cuda.current_device() if device == "cuda" else "cpu"}
            model = AutoModelForCausalLM.from_pretrained(src, dtype=dtype, **kwargs)
            tok = AutoTokenizer.from_pretrained(src)
            if t.method == "qlora" and device != "cuda":
                # bitsandbytes repacks 4-bit weights for its CPU inference kernel at the first no-grad forward
                # (our validation); that kernel has no autograd, so later training steps would backpropagate
                # through it wrongly. Keep every step on the differentiable path.
                for m in model.modules():
                    if hasattr(m, "support_avx512bf16_for_cpu"):
                        m.support_avx512bf16_for_cpu = False
    else:
        if not ws.tokenizer_dir.exists():
            raise FileNotFoundError(f"no tokenizer at {ws.tokenizer_dir}: run `zaomo tokenizer train` first")
        from ..model.build import build_model

        tok = AutoTokenizer.from_pretrained(ws.tokenizer_dir)
        model = build_model(cfg.model, tok, seed=cfg.project.seed)
    added: list[str] = []
    if cfg.tokenizer.chat_template:
        added = set_template(tok, cfg.tokenizer.chat_template, ws.root)
        if added:
            if t.method == "qlora":
                raise ValueError(f"tokenizer.chat_template adds tokens {added} that a 4-bit base cannot learn; "
                                 "use a template made of tokens the base already has")
            model.resize_token_embeddings(len(tok))
    if t.stage != "pretrain":
        ensure_template(tok, src or str(ws.tokenizer_dir))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok, src, bool(added)


def _reward_model(src: str, dtype: torch.dtype) -> tuple[Any, Any, str, bool]:
    """The base with a one-output classification head (transformers' *ForSequenceClassification, as TRL and
    vLLM's reward serving load it); it scores the last token that is not padding."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if adapter_base(src) is not None:
        raise ValueError(f"train.init_from {src} is an adapter: merge it first (`zaomo export`) or start from the "
                         "merged model")
    tok = AutoTokenizer.from_pretrained(src)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(src, num_labels=1, dtype=dtype)
    model.config.pad_token_id = tok.pad_token_id
    ensure_template(tok, src)
    return model, tok, src, False


def wrap_method(ws: Workspace, model, new_tokens: bool = False):
    """Freeze what does not train and add the adapters (peft) for lora / qlora / prefix. With `new_tokens`
    (the chat template added tokens) a LoRA run also trains the embeddings and LM head, or the new rows
    would stay random."""
    t = ws.cfg.train
    if t.method == "full":
        return model
    from peft import LoraConfig, PrefixTuningConfig, TaskType, get_peft_model

    if t.method == "qlora":
        # what prepare_model_for_kbit_training does, minus its upcast of every non-quantised module to fp32:
        # they stay in the compute dtype (half the memory), as `zaomo plan` assumes
        for p in model.parameters():
            p.requires_grad_(False)
        if t.grad_checkpointing:
            model.enable_input_require_grads()
    if t.method in ("lora", "qlora"):
        present = {n.split(".")[-1] for n, _ in model.named_modules()}
        targets = [m for m in t.lora.target_modules if m in present]
        if not targets:
            raise ValueError(f"train.lora.target_modules: none of {t.lora.target_modules} exist in this model")
        extra = [n for n in ("embed_tokens", "lm_head") if n in present] if new_tokens else None
        reward = t.stage == "reward"  # the new head is trained whole beside the adapters
        pc = LoraConfig(r=t.lora.r, lora_alpha=t.lora.alpha, lora_dropout=t.lora.dropout, target_modules=targets,
                        task_type=TaskType.SEQ_CLS if reward else TaskType.CAUSAL_LM,
                        modules_to_save=["score"] if reward else extra)
    else:
        pc = PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=t.prefix.num_virtual_tokens)
    return get_peft_model(model, pc)


def merge_adapter(adapter_dir: Path, base: str, dtype: torch.dtype, reward: bool = False):
    """A standalone model: the adapter merged into a fresh load of its base in `dtype` (not quantised)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if reward:
        from transformers import AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=dtype)
        model.config.pad_token_id = AutoTokenizer.from_pretrained(adapter_dir).pad_token_id
    else:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    return PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()


def export_dtype(ws: Workspace, device: str) -> torch.dtype:
    """A QLoRA result is exported in its compute dtype (bf16/fp16); LoRA in the base's `model.dtype`."""
    if ws.cfg.train.method == "qlora":
        return compute_dtype(ws, device)
    return resolve_dtype(ws.cfg.model.dtype, device)
