"""`model:` — a preset of the Llama/Qwen2 architecture, or a Hugging Face base model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section

PRESETS = ("tiny", "10m", "minimind", "124m", "350m", "1b")


class ModelConfig(Section):
    preset: Literal["tiny", "10m", "minimind", "124m", "350m", "1b"] = Field(
        "tiny", description="architecture size when training from scratch: " + ", ".join(PRESETS))
    arch: Literal["llama", "qwen2"] = Field("llama", description="transformers architecture of new models")
    base: str | None = Field(None, description="local HF model dir or hub id to start from instead of a preset")
    name: str | None = Field(None, description="name under models/ (defaults to project.name)")
    seq_len: int = Field(256, ge=16, description="training/context length in tokens")
    hidden_size: int | None = Field(None, ge=8, description="override the preset's hidden size")
    num_layers: int | None = Field(None, ge=1, description="override the preset's layer count")
    num_heads: int | None = Field(None, ge=1, description="override the preset's attention heads")
    num_kv_heads: int | None = Field(None, ge=1, description="override the preset's key/value heads")
    intermediate_size: int | None = Field(None, ge=8, description="override the preset's MLP width")
    tie_embeddings: bool = Field(True, description="share input and output embeddings")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="weights' precision when loading for eval, serving and as a frozen LoRA/prefix base "
        "(auto: bf16 on a GPU that has it, fp32 on CPU); full training keeps fp32 master weights")
