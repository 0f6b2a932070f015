"""Run a model written by `export_onnx` with ONNX Runtime: a forward step over the KV cache and greedy
decoding — enough to check an export against PyTorch and to serve it without torch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..utils.env import optional_import
from .export_onnx import cache_names


class OnnxCausalLM:
    """One ONNX Runtime session over model.onnx (or model.int8.onnx) with its cache layout from config.json."""

    def __init__(self, model_dir: str | Path, int8: bool = False) -> None:
        ort = optional_import("onnxruntime", "export", "Running an ONNX model")
        d = Path(model_dir)
        cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
        heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or heads
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
        self.past_names, _ = cache_names(cfg["num_hidden_layers"])
        self.session = ort.InferenceSession(str(d / ("model.int8.onnx" if int8 else "model.onnx")),
                                            providers=["CPUExecutionProvider"])

    def empty_cache(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, self.n_kv, 0, self.head_dim), np.float32) for _ in self.past_names]

    def step(self, input_ids: np.ndarray, attention_mask: np.ndarray, past: list[np.ndarray],
             position_ids: np.ndarray | None = None):
        """(logits, present) for `input_ids` after `past`; `attention_mask` covers past + new tokens; positions
        count the mask's ones unless given."""
        if position_ids is None:
            n_past = past[0].shape[2]
            position_ids = np.maximum(np.cumsum(attention_mask, axis=1) - 1, 0)[:, n_past:]
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64),
                "position_ids": position_ids.astype(np.int64),
                **{n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(self.past_names, past)}}
        logits, *present = self.session.run(None, feed)
        return logits, present

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None) -> np.ndarray:
        mask = np.ones_like(input_ids) if attention_mask is None else attention_mask
        return self.step(input_ids, mask, self.empty_cache(input_ids.shape[0]))[0]

    def greedy(self, input_ids: list[int], max_new_tokens: int, stop: set[int] | frozenset = frozenset()) -> list[int]:
        """Greedy continuation of one prompt, one cached token per step."""
        ids = np.asarray([input_ids], np.int64)
        logits, past = self.step(ids, np.ones_like(ids), self.empty_cache(1))
        out: list[int] = []
        for _ in range(max_new_tokens):
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            if nxt in stop:
                break
            mask = np.ones((1, len(input_ids) + len(out)), np.int64)
            logits, past = self.step(np.asarray([[nxt]], np.int64), mask, past)
        return out


@dataclass
class CacheLayer:
    keys: Any
    values: Any


@dataclass
class OnnxCache:
    """The KV cache as the serving batcher handles it (`layers[i].keys/values`, torch tensors), so the batcher
    pads, merges and drops rows of an ONNX model's cache exactly as it does a transformers DynamicCache's."""

    layers: list[CacheLayer] = field(default_factory=list)


class OnnxTorchModel:
    """An exported model behind the call a transformers causal LM answers (`model(input_ids=…, attention_mask=…,
    position_ids=…, past_key_values=…)` → `.logits`, `.past_key_values`), so the built-in engine's continuous
    batching, sampling, stop strings, logprobs and JSON mode serve it unchanged, with no torch weights loaded."""

    def __init__(self, model_dir: str | Path, int8: bool = False) -> None:
        import torch
        from transformers import AutoConfig, GenerationConfig

        self.lm = OnnxCausalLM(model_dir, int8=int8)
        self.config = AutoConfig.from_pretrained(model_dir)
        try:
            self.generation_config = GenerationConfig.from_pretrained(model_dir)
        except OSError:  # an export without generation_config.json: the tokenizer's EOS still stops it
            self.generation_config = None
        self.device = torch.device("cpu")

    def __call__(self, input_ids, attention_mask, position_ids=None, past_key_values=None, **_: Any):
        import torch

        layers = getattr(past_key_values, "layers", None) or []
        if layers and getattr(layers[0], "keys", None) is not None and layers[0].keys.numel():
            past = [t.detach().cpu().numpy() for layer in layers for t in (layer.keys, layer.values)]
        else:
            past = self.lm.empty_cache(int(input_ids.shape[0]))
        pos = None if position_ids is None else position_ids.cpu().numpy()
        logits, present = self.lm.step(input_ids.cpu().numpy(), attention_mask.cpu().numpy(), past, pos)
        cache = OnnxCache([CacheLayer(torch.from_numpy(k), torch.from_numpy(v))
                           for k, v in zip(present[::2], present[1::2], strict=True)])
        return SimpleNamespace(logits=torch.from_numpy(logits), past_key_values=cache)
