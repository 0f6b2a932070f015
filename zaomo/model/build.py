"""Build a new model from a preset: a plain `LlamaForCausalLM` / `Qwen2ForCausalLM`."""

from __future__ import annotations

from ..config.model import ModelConfig
from .presets import resolve_shape


def build_model(cfg: ModelConfig, tokenizer, seed: int | None = None):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = resolve_shape(cfg)
    if shape.hidden % shape.heads or shape.heads % shape.kv_heads:
        raise ValueError(f"model shape: hidden {shape.hidden} must divide by heads {shape.heads}, and heads by "
                         f"kv heads {shape.kv_heads}")
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.pad_token_id
    common = dict(vocab_size=len(tokenizer), hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                  num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                  num_key_value_heads=shape.kv_heads, max_position_embeddings=cfg.seq_len,
                  tie_word_embeddings=cfg.tie_embeddings, eos_token_id=eos, pad_token_id=pad, bos_token_id=pad,
                  rms_norm_eps=1e-6)
    if seed is not None:
        torch.manual_seed(seed)
    if cfg.arch == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**common))
    return LlamaForCausalLM(LlamaConfig(**common))

