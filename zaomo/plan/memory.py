"""A memory model for training and inference of Llama-family decoders.

Bytes per parameter (mixed precision AdamW, as in ZeRO's paper): 2 (bf16 weights) + 4 (fp32 master) +
4 (fp32 gradients) + 8 (Adam m and v) = 18, or 16 when gradients are kept in bf16 — we use 16, the
figure public estimates use. LoRA keeps the base frozen in bf16 (2 B/param) and trains adapters with the
full 16 B/param. QLoRA stores base weights as 4-bit NF4 (0.5 B/param) plus double-quantised scales
(~0.127 bit/param); embeddings and the LM head stay bf16.

Activations follow Korthikanti et al. (2022): per layer s·b·h·(34 + 5·a·s/h) bytes in 16-bit without
recomputation; with full activation checkpointing, 2·s·b·h bytes per layer plus one layer recomputed.
Defaults mirror the settings public figures assume: seq 512, batch 1, checkpointing on for full and
QLoRA training. A fixed overhead covers the CUDA context and allocator fragmentation.

All figures are in GB (1e9 bytes), like the public ones they are tested against:
7B full AdamW ≈ 120 GB, LoRA ≈ 16 GB, QLoRA ≈ 6 GB, fp16 inference ≈ 14 GB.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1e9
OVERHEAD_GB = 1.0


@dataclass(frozen=True)
class Shape:
    """The dimensions that decide memory (Llama family)."""

    params: float
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int


# Public Llama/Qwen-family shapes, small to large.
SHAPES: list[Shape] = [
    Shape(0.125e9, 768, 12, 12, 12, 2048, 32000),
    Shape(0.5e9, 896, 24, 14, 2, 4864, 151936),
    Shape(1.24e9, 2048, 16, 32, 8, 8192, 128256),
    Shape(3.2e9, 3072, 28, 24, 8, 8192, 128256),
    Shape(6.74e9, 4096, 32, 32, 32, 11008, 32000),
    Shape(8.0e9, 4096, 32, 32, 8, 14336, 128256),
    Shape(13.0e9, 5120, 40, 40, 40, 13824, 32000),
    Shape(32.8e9, 5120, 64, 40, 8, 27648, 152064),
    Shape(70.6e9, 8192, 80, 64, 8, 28672, 128256),
]


def shape_for(params: float) -> Shape:
    """The public shape nearest in size, with layers scaled so the count matches `params`."""
    nearest = min(SHAPES, key=lambda s: abs(s.params - params) / s.params)
    if abs(nearest.params - params) / nearest.params < 0.05:
        return nearest
    per_layer = (nearest.params - 2 * nearest.vocab * nearest.hidden) / nearest.layers
    layers = max(1, round((params - 2 * nearest.vocab * nearest.hidden) / per_layer))
    return Shape(params, nearest.hidden, layers, nearest.heads, nearest.kv_heads, nearest.intermediate,
                 nearest.vocab)


def lora_params(shape: Shape, r: int = 8, all_linear: bool = True) -> float:
    """Trainable LoRA parameters: r·(in+out) per adapted matrix."""
    h, i = shape.hidden, shape.intermediate
    kv = h * shape.kv_heads // shape.heads
    attn = (h + h) + (h + kv) + (h + kv) + (h + h)  # q, k, v, o
    mlp = 3 * (h + i) if all_linear else 0
    return shape.layers * r * (attn + mlp)


def activation_gb(shape: Shape, seq: int, batch: int, checkpointing: bool) -> float:
    s, b, h, a, L = seq, batch, shape.hidden, shape.heads, shape.layers
    full_layer = s * b * h * (34 + 5 * a * s / h)
    logits = 3 * s * b * shape.vocab * 4  # fp32 logits, softmax and its gradient
    if checkpointing:
        return (2 * s * b * h * L + full_layer + logits) / GB
    return (full_layer * L + logits) / GB


def training_memory_gb(params: float, method: str = "full", seq_len: int = 512, batch: int = 1,
                       checkpointing: bool | None = None, lora_r: int = 8, shape: Shape | None = None) -> float:
    """Peak memory to train: weights + gradients + optimizer states + activations + overhead.

    method: full (mixed precision AdamW), lora (bf16 base), qlora (NF4 base), or full-fp32.
    """
    shape = shape or shape_for(params)
    if checkpointing is None:
        checkpointing = method in ("full", "qlora", "full-fp32")
    if method == "full":
        states = 16 * params
    elif method == "full-fp32":
        states = 16 * params  # 4 weights + 4 grads + 8 Adam
    elif method in ("lora", "qlora"):
        n_lora = lora_params(shape, lora_r)
        embed = 2 * shape.vocab * shape.hidden
        if method == "lora":
            base = 2 * params
        else:
            base = (params - embed) * (0.5 + 0.127 / 8) + 2 * embed
        states = base + 16 * n_lora
    else:
        raise ValueError(f"method must be full, full-fp32, lora or qlora, got {method!r}")
    return states / GB + activation_gb(shape, seq_len, batch, checkpointing) + OVERHEAD_GB


def inference_memory_gb(params: float, bits: int = 16, context: int = 4096, batch: int = 1,
                        shape: Shape | None = None) -> float:
    """Weights at `bits` per parameter + a 16-bit KV cache for `batch` sequences of `context` tokens."""
    shape = shape or shape_for(params)
    head_dim = shape.hidden // shape.heads
    kv = 2 * shape.layers * shape.kv_heads * head_dim * context * batch * 2
    return params * bits / 8 / GB + kv / GB + OVERHEAD_GB * 0.5


CANDIDATES = [0.125e9, 0.5e9, 1.24e9, 3.2e9, 6.74e9, 8.0e9, 13.0e9, 32.8e9, 70.6e9]


def largest_model_that_fits(memory_gb: float, method: str = "full", **kwargs: float) -> float:
    """The largest public-shape model (parameters) whose estimate fits in `memory_gb`; 0 if none."""
    best = 0.0
    for n in CANDIDATES:
        need = (inference_memory_gb(n, **kwargs) if method == "inference"
                else training_memory_gb(n, method, **kwargs))
        if need <= memory_gb:
            best = n
    return best
