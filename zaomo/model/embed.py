"""Sentence embeddings from any Hugging Face encoder, pooled the way the encoder was trained and L2-normalised,
so a dot product is a cosine similarity. Shared by the knowledge base's dense retrieval and /v1/embeddings.

The pooling (CLS for BGE, mean for E5 and most others, last token for decoder embedders) and the query /
passage prefixes come from the encoder's own sentence-transformers files — modules.json → the Pooling
module's config.json, config_sentence_transformers.json "prompts" — read from a local folder or from the
Hugging Face cache for a hub id (offline works). Without them: mean pooling, and the prefixes known for the
model family by name (BGE, E5). Pooling a CLS-trained encoder by the mean silently costs retrieval quality.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.log import get_logger

POOLING_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                 "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
                 "pooling_mode_lasttoken": "lasttoken"}
# modules computed here; any other (Dense projection, ...) needs the sentence-transformers library
PLAIN_MODULES = {"Transformer", "Pooling", "Normalize"}
PASSAGE_PROMPTS = ("passage", "document", "corpus", "doc")
BGE_ZH = "为这个句子生成表示以用于检索相关文章："
BGE_EN = "Represent this sentence for searching relevant passages: "
# (name pattern, query prefix, passage prefix): the model cards' retrieval conventions
KNOWN_PREFIXES = (
    (re.compile(r"^bge-(small|base|large)-zh(-v1\.5)?$"), BGE_ZH, ""),
    (re.compile(r"^bge-(small|base|large)-en(-v1\.5)?$"), BGE_EN, ""),
    (re.compile(r"^(multilingual-)?e5-(small|base|large)(-v2)?$"), "query: ", "passage: "),
)


@dataclass(frozen=True)
class EncoderSpec:
    pooling: str = "mean"  # cls | mean | max | mean_sqrt_len | lasttoken
    query_prefix: str = ""
    passage_prefix: str = ""
    max_length: int | None = None  # sentence_bert_config.json max_seq_length
    needs_st: bool = False  # modules beyond Transformer/Pooling/Normalize: only sentence-transformers computes it
    subfolder: str = ""  # where the Transformer module keeps the HF model ("" = the model's root)


def model_file(name_or_path: str | Path, filename: str) -> Path | None:
    """`filename` of a local model folder, or of a hub model (the cache first, so it works offline);
    None when the model has no such file or it cannot be fetched."""
    local = Path(name_or_path)
    if local.is_dir():
        return local / filename if (local / filename).is_file() else None
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(str(name_or_path), filename)
        if isinstance(hit, str):
            return Path(hit)
        if hit is not None:  # the cache records that the file does not exist
            return None
        return Path(hf_hub_download(str(name_or_path), filename))
    except Exception:  # not on the hub, offline and not cached, malformed id: no such file
        return None


def _json(name_or_path: str | Path, filename: str) -> dict | list | None:
    f = model_file(name_or_path, filename)
    return json.loads(f.read_text(encoding="utf-8")) if f is not None else None


def known_prefixes(name_or_path: str | Path) -> tuple[str, str] | None:
    """(query, passage) prefixes by model family, from the last part of the id or folder name."""
    name = str(name_or_path).rstrip("/").rsplit("/", 1)[-1].lower()
    for pattern, query, passage in KNOWN_PREFIXES:
        if pattern.match(name):
            return query, passage
    return None


def encoder_spec(name_or_path: str | Path) -> EncoderSpec:
    """How to pool and prompt this encoder, from its sentence-transformers files (see the module docstring);
    logs what it found, since a wrong guess only shows as worse retrieval."""
    log = get_logger("zaomo.model")
    pooling, needs_st, found = "mean", False, "no sentence-transformers pooling config (modules.json), mean pooling"
    modules = _json(name_or_path, "modules.json")
    subfolder = ""
    if isinstance(modules, list):
        kinds = {str(m.get("type", "")).rsplit(".", 1)[-1]: str(m.get("path", "")).strip("/") for m in modules}
        needs_st, subfolder = not set(kinds) <= PLAIN_MODULES, kinds.get("Transformer", "")
        folder = kinds.get("Pooling")
        cfg = (_json(name_or_path, f"{folder}/config.json") if folder else None) or {}
        modes = [POOLING_MODES[k] for k, v in cfg.items() if k in POOLING_MODES and v]
        if len(modes) == 1:
            pooling, found = modes[0], f"{modes[0]} pooling from {folder}/config.json"
        elif modes:  # several poolings concatenated
            needs_st, found = True, f"pooling {'+'.join(modes)} from {folder}/config.json (sentence-transformers)"
        else:
            found = "modules.json without a readable Pooling config, mean pooling"
    st_cfg = _json(name_or_path, "config_sentence_transformers.json") or {}
    prompts = st_cfg.get("prompts") or {}
    if prompts:
        query = prompts.get("query", "")
        passage = next((prompts[k] for k in PASSAGE_PROMPTS if k in prompts), "")
        found += "; prefixes from config_sentence_transformers.json"
    elif known := known_prefixes(name_or_path):
        (query, passage), found = known, found + "; prefixes of the model family"
    else:
        query = passage = ""
    bert_cfg = _json(name_or_path, "sentence_bert_config.json") or {}
    spec = EncoderSpec(pooling, query, passage, bert_cfg.get("max_seq_length"), needs_st, subfolder)
    log.info(f"encoder {name_or_path}: {found} (query prefix {query!r}, passage prefix {passage!r})")
    return spec


def pool(hidden, mask, mode: str = "mean"):
    """[batch, seq, dim] hidden states → [batch, dim], over the real tokens of `mask` (either padding side)."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "lasttoken":  # the last real token: right padding puts it before the pads, left padding last
        last = mask.shape[1] - 1 - mask.flip(1).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if mode == "max":
        return hidden.masked_fill(m == 0, float("-inf")).max(1).values
    summed, n = (hidden * m).sum(1), m.sum(1).clamp(min=1)
    if mode == "mean_sqrt_len":
        return summed / n.sqrt()
    if mode == "mean":
        return summed / n
    raise ValueError(f"unknown pooling {mode!r}; expected one of {sorted(set(POOLING_MODES.values()))}")


def embed_texts(model, tok, texts: Sequence[str], max_length: int = 512, batch_size: int = 32,
                pooling: str = "mean") -> tuple[np.ndarray, int]:
    """(unit vectors, shape [len(texts), hidden]; number of tokens read)."""
    import torch

    out, tokens = [], 0
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            enc = tok(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt").to(model.device)
            hidden = model(**enc).last_hidden_state.float()
            pooled = pool(hidden, enc["attention_mask"], pooling)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
            tokens += int(enc["attention_mask"].sum())
    if not out:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32), 0
    return np.concatenate(out).astype(np.float32), tokens
