"""Write a Llama- or Qwen2-family model as a GGUF file that llama.cpp and Ollama load: llama.cpp's tensor
names and metadata, the byte-level BPE as its "gpt2" tokenizer model, and the chat template — plus an Ollama
Modelfile beside it. Uses the maintained `gguf` package (zaomo[export]) for the file format and Q8_0."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.env import optional_import

GGUF_TYPES = ("f16", "bf16", "f32", "q8_0")
ARCHS = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
# HF module name → llama.cpp name, per block
BLOCK_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}
TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}


def _gguf():
    return optional_import("gguf", "export", "GGUF export")


def rope_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder Q/K rows from HF's rotate-half RoPE layout to llama.cpp's interleaved one (llama arch only):
    within each head, rows [first half | second half] become pairs (i, i + half)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of `rope_permute` (to compare a GGUF tensor with the HF weight)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name(hf_name: str) -> str | None:
    """llama.cpp's name for an HF parameter (None: not exported, e.g. rotary buffers)."""
    if hf_name in TOP_NAMES:
        return TOP_NAMES[hf_name]
    parts = hf_name.split(".")
    if parts[:2] != ["model", "layers"] or len(parts) < 5:
        return None
    module, kind = ".".join(parts[3:-1]), parts[-1]
    return f"blk.{parts[2]}.{BLOCK_NAMES[module]}.{kind}" if module in BLOCK_NAMES else None


def _rope_theta(cfg: Any) -> float:
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind not in ("default", None):
        raise NotImplementedError(f"GGUF export: rope_type {kind!r} is not supported yet (only plain RoPE)")
    return float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))


def _pre_tokenizer(tok_json: dict) -> str:
    """llama.cpp's pre-tokenizer name: GPT-2's regex for a plain ByteLevel, Qwen2's / Llama-3's split regex."""
    pre = tok_json.get("pre_tokenizer") or {}
    subs = pre.get("pretokenizers", [pre])
    splits = [s["pattern"].get("Regex", "") for s in subs if s.get("type") == "Split"]
    if splits:
        return "llama-bpe" if r"\p{N}{1,3}" in splits[0] else "qwen2"
    return "gpt-2"  # llama.cpp's name for GPT-2's regex ("gpt2" is refused: unknown pre-tokenizer)


def _tensor(gguf, name: str, w: np.ndarray, ftype: str):
    """(array, raw_dtype) for one tensor: 1-D tensors stay f32 as llama.cpp keeps them; Q8_0 falls back to
    f16 for rows not a multiple of its 32-value block."""
    q = gguf.GGMLQuantizationType
    if w.ndim == 1 or ftype == "f32":
        return w.astype(np.float32), None
    if ftype == "q8_0" and w.shape[-1] % gguf.GGML_QUANT_SIZES[q.Q8_0][0] == 0:
        return gguf.quants.quantize(w.astype(np.float32), q.Q8_0), q.Q8_0
    if ftype == "bf16":
        return gguf.quants.quantize(w.astype(np.float32), q.BF16), q.BF16
    return w.astype(np.float16), None


def _add_tokenizer(gguf, writer, tokenizer, n_vocab: int) -> None:
    import json

    tt = gguf.TokenType
    vocab = tokenizer.get_vocab()
    by_id = {i: t for t, i in vocab.items()}
    added = {t.content: t.special for t in tokenizer.added_tokens_decoder.values()}
    tokens, types = [], []
    for i in range(n_vocab):
        t = by_id.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(tt.UNUSED)
        else:
            tokens.append(t)
            types.append(tt.NORMAL if t not in added else (tt.CONTROL if added[t] else tt.USER_DEFINED))
    writer.add_tokenizer_model("gpt2")
    with tempfile.TemporaryDirectory() as d:
        tokenizer.save_pretrained(d)
        tok_json = json.loads((Path(d) / "tokenizer.json").read_text(encoding="utf-8"))
        special = gguf.SpecialVocab(d, load_merges=True, n_vocab=n_vocab)
    writer.add_tokenizer_pre(_pre_tokenizer(tok_json))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if tokenizer.chat_template:
        special.chat_template = tokenizer.chat_template
    if tokenizer.pad_token_id is not None:
        special.special_token_ids["pad"] = tokenizer.pad_token_id
    special.add_to_gguf(writer, quiet=True)


def export_gguf(model, tokenizer, out: str | Path, ftype: str = "f16") -> Path:
    """Write `model` (a Llama or Qwen2 causal LM) and its tokenizer to the GGUF file `out`."""
    gguf = _gguf()
    if ftype not in GGUF_TYPES:
        raise ValueError(f"--gguf-type {ftype!r} is not one of {', '.join(GGUF_TYPES)}")
    cfg = model.config
    arch = next((ARCHS[a] for a in (cfg.architectures or []) if a in ARCHS), None)
    if arch is None:
        arch = {"llama": "llama", "qwen2": "qwen2"}.get(cfg.model_type)
    if arch is None:
        raise NotImplementedError(f"GGUF export supports Llama and Qwen2 models, not {cfg.model_type!r}")
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_name(Path(str(getattr(cfg, "_name_or_path", "")) or out.stem).name or out.stem)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(cfg))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_vocab_size(cfg.vocab_size)
    ft = gguf.LlamaFileType
    writer.add_file_type({"f32": ft.ALL_F32, "f16": ft.MOSTLY_F16, "bf16": ft.MOSTLY_BF16,
                          "q8_0": ft.MOSTLY_Q8_0}[ftype])
    _add_tokenizer(gguf, writer, tokenizer, cfg.vocab_size)

    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    for hf_name, p in model.state_dict().items():
        name = gguf_name(hf_name)
        if name is None or (tied and name == "output.weight"):
            continue
        w = p.detach().float().cpu().numpy()
        if arch == "llama" and ".attn_q." in name:
            w = rope_permute(w, n_head)
        elif arch == "llama" and ".attn_k." in name:
            w = rope_permute(w, n_kv)
        data, raw = _tensor(gguf, name, w, ftype)
        writer.add_tensor(name, data, raw_dtype=raw)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def ollama_template(tokenizer) -> str | None:
    """A Go TEMPLATE for Ollama derived by rendering the Jinja chat template around placeholders (one system
    + user turn and the generation prompt); None when the template cannot be rendered that way."""
    from .chat import turn_end_ids

    sys_mark, user_mark = "\x00SYSTEM\x00", "\x00PROMPT\x00"

    def render(msgs):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    try:
        with_sys = render([{"role": "system", "content": sys_mark}, {"role": "user", "content": user_mark}])
        no_sys = render([{"role": "user", "content": user_mark}])
    except Exception:  # noqa: BLE001 - a template that needs more than this falls back to stop tokens only
        return None
    if user_mark not in with_sys or sys_mark not in with_sys or user_mark not in no_sys:
        return None
    bos = tokenizer.bos_token or ""

    def strip_bos(s: str) -> str:  # llama.cpp adds BOS itself
        return s[len(bos):] if bos and s.startswith(bos) else s

    head_sys, tail = strip_bos(with_sys).split(user_mark, 1)
    head_none, tail_none = strip_bos(no_sys).split(user_mark, 1)
    if tail != tail_none:
        return None
    end = "".join(tokenizer.convert_ids_to_tokens(turn_end_ids(tokenizer)))
    head_sys = head_sys.replace(sys_mark, "{{ .System }}")
    return (f"{{{{ if .System }}}}{head_sys}{{{{ else }}}}{head_none}{{{{ end }}}}"
            f"{{{{ .Prompt }}}}{tail}{{{{ .Response }}}}{end}")


def write_modelfile(tokenizer, model, out_dir: str | Path, gguf_name_: str = "model.gguf") -> Path:
    """An Ollama Modelfile next to the GGUF: FROM, TEMPLATE (when derivable) and a stop per end token."""
    from .chat import stop_ids

    lines = [f"FROM ./{gguf_name_}"]
    tpl = ollama_template(tokenizer)
    if tpl is not None:
        lines.append(f'TEMPLATE """{tpl}"""')
    for t in tokenizer.convert_ids_to_tokens(stop_ids(tokenizer, model)):
        lines.append(f'PARAMETER stop "{t}"')
    path = Path(out_dir) / "Modelfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
