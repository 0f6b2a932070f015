"""Sentence embeddings from any Hugging Face encoder: mean pooling over the real tokens, L2-normalised, so a
dot product is a cosine similarity. Shared by the knowledge base's dense retrieval and /v1/embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_pool_embed(model, tok, texts: Sequence[str], max_length: int = 512,
                    batch_size: int = 32) -> tuple[np.ndarray, int]:
    """(unit vectors, shape [len(texts), hidden]; number of tokens read)."""
    import torch

    out, tokens = [], 0
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            enc = tok(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt").to(model.device)
            hidden = model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
            tokens += int(enc["attention_mask"].sum())
    if not out:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32), 0
    return np.concatenate(out).astype(np.float32), tokens
