"""Prefix tuning at inference. The learned virtual tokens are a KV cache that every sequence starts from;
they cannot be merged into weights. peft's own `generate` drops them under transformers 5 (generate passes
its fresh `cache`, which wins over the `past_key_values` peft injects), so zaomo decodes with the base model
from a cache pre-filled with the prefix — in eval and in the serving engine alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def split_prefix(model) -> tuple[Any, Callable[[int], Any] | None, int]:
    """(model to decode with, fn(batch_size) -> prefix KV cache, prefix length); no prefix: (model, None, 0)."""
    cfg = getattr(model, "active_peft_config", None)
    if cfg is None or str(getattr(cfg, "peft_type", "")).split(".")[-1] != "PREFIX_TUNING":
        return model, None, 0

    def cache(batch_size: int):
        import torch

        with torch.no_grad():
            return model.get_prompt(batch_size)

    return model.get_base_model(), cache, cfg.num_virtual_tokens
