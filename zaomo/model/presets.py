"""Model presets: standard Llama/Qwen2 shapes, so every model zaomo makes loads in transformers, vLLM
and llama.cpp's converter without custom code.

Two presets match their anchors, so speed comparisons are on equal FLOPs:
- `minimind`: minimind's default `MiniMindConfig` (model/model_minimind.py): hidden 768, 8 layers, 8 heads
  with 4 KV heads (head dim 96), SwiGLU width ceil(768·π/64)·64 = 2432, vocabulary 6,400, tied embeddings.
  What differs is not in the FLOP count: minimind adds per-head RMSNorm on q and k (QK-norm) and uses RoPE
  base 1e6.
- `124m`: nanoGPT's GPT-2 small: hidden 768, 12 layers, 12 heads; SwiGLU width 2048 has the parameters of
  GPT-2's 4×768 GELU MLP (3·768·2048 = 2·768·3072), tied embeddings; the vocabulary comes from the tokenizer
  (nanoGPT pads GPT-2's to 50,304)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.model import ModelConfig


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int


PRESETS: dict[str, Preset] = {
    "tiny": Preset(64, 2, 4, 2, 176),
    "10m": Preset(256, 8, 8, 4, 704),
    "minimind": Preset(768, 8, 8, 4, 2432),
    "124m": Preset(768, 12, 12, 12, 2048),
    "350m": Preset(1024, 24, 16, 16, 2816),
    "1b": Preset(2048, 16, 32, 8, 5632),
}


def resolve_shape(cfg: ModelConfig) -> Preset:
    p = PRESETS[cfg.preset]
    return Preset(cfg.hidden_size or p.hidden, cfg.num_layers or p.layers, cfg.num_heads or p.heads,
                  cfg.num_kv_heads or cfg.num_heads or p.kv_heads, cfg.intermediate_size or p.intermediate)
