"""Export a causal LM to ONNX with a KV cache (past_key_values.N.key/value in, present.N.key/value out —
optimum's names, so ONNX Runtime decoders that expect them can use it), optionally with int8 dynamic
quantisation. optimum-onnx would be the maintained exporter, but it pins transformers<4.58, so this wraps
the model for `torch.onnx.export` (TorchScript exporter; dynamo needs onnxscript) with the cache as tensors."""

from __future__ import annotations

from pathlib import Path

from ..utils.env import optional_import

OPSET = 18


def _dims(cfg) -> tuple[int, int, int]:
    """(layers, kv heads, head dim)."""
    heads = cfg.num_attention_heads
    kv = getattr(cfg, "num_key_value_heads", None) or heads
    return cfg.num_hidden_layers, kv, getattr(cfg, "head_dim", None) or cfg.hidden_size // heads


def cache_names(n_layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_key_values.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    return past, [n.replace("past_key_values", "present") for n in past]


def _wrapper(model):
    import torch
    from transformers import DynamicCache

    n_layers = _dims(model.config)[0]

    class WithCache(torch.nn.Module):
        """Flat tensors in and out: ONNX has no cache objects."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(config=self.model.config)
            for i in range(n_layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            present = [t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)]
            return (out.logits, *present)

    return WithCache()


def export_onnx(model, tokenizer, out_dir: str | Path, int8: bool = False) -> Path:
    """Write model.onnx (fp32, KV cache), its config and tokenizer to `out_dir`; with `int8` also
    model.int8.onnx (weights quantised to int8 by ONNX Runtime's dynamic quantisation). Returns the dir."""
    import torch

    optional_import("onnx", "export", "ONNX export")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.float().cpu().eval()
    n_layers, n_kv, head_dim = _dims(model.config)
    past_names, present_names = cache_names(n_layers)
    b, p, s = 1, 2, 3  # example shapes; every axis below is dynamic
    ids = torch.zeros((b, s), dtype=torch.long)
    mask = torch.ones((b, p + s), dtype=torch.long)
    pos = torch.arange(p, p + s).unsqueeze(0)
    past = [torch.zeros((b, n_kv, p, head_dim)) for _ in past_names]
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
            "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    axes.update({n: {0: "batch", 2: "past"} for n in past_names})
    axes.update({n: {0: "batch", 2: "total"} for n in present_names})
    path = out / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(_wrapper(model), (ids, mask, pos, *past), str(path), opset_version=OPSET, dynamo=False,
                          input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                          output_names=["logits", *present_names], dynamic_axes=axes)
    model.config.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:  # its EOS list stops a served answer
        model.generation_config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if int8:
        quant = optional_import("onnxruntime.quantization", "export", "int8 ONNX quantisation")
        quant.quantize_dynamic(str(path), str(out / "model.int8.onnx"), weight_type=quant.QuantType.QInt8)
    return out
