"""Model presets: standard Llama/Qwen2 shapes, so every model zaomo makes loads in transformers, vLLM
and llama.cpp's converter without custom code. `minimind` matches minimind's default shape so the two
can be compared on equal terms."""

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
    "minimind": Preset(768, 8, 8, 4, 2048),
    "124m": Preset(768, 12, 12, 12, 2048),
    "350m": Preset(1024, 24, 16, 16, 2816),
    "1b": Preset(2048, 16, 32, 8, 5632),
}


def resolve_shape(cfg: ModelConfig) -> Preset:
    p = PRESETS[cfg.preset]
    return Preset(cfg.hidden_size or p.hidden, cfg.num_layers or p.layers, cfg.num_heads or p.heads,
                  cfg.num_kv_heads or cfg.num_heads or p.kv_heads, cfg.intermediate_size or p.intermediate)
