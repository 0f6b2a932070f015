"""Byte-level BPE trained with HF tokenizers: any Unicode round-trips exactly, Chinese included.

Saved as a standard `PreTrainedTokenizerFast` directory with the ChatML template, so AutoTokenizer,
vLLM and llama.cpp read it as it is. `<|im_end|>` ends each assistant turn and is the EOS for chat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..utils.io import atomic_write_json, iter_jsonl
from ..workspace import Workspace
from .chat import CHATML, set_template

EOS_DOC, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL = [EOS_DOC, IM_START, IM_END]


def _texts(files: list[Path], max_chars: int) -> Iterator[str]:
    seen = 0
    for f in files:
        for rec in iter_jsonl(f):
            t = rec.get("text") or "\n".join(m.get("content", "") for m in rec.get("messages", []))
            if not t:
                continue
            seen += len(t)
            yield t
            if seen >= max_chars:
                return


def train_bpe(texts: Iterator[str] | list[str], vocab_size: int, out_dir: Path, min_frequency: int = 2,
              model_max_length: int = 2048):
    """Train and save; returns the `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token=IM_END, pad_token=EOS_DOC,
                                   unk_token=None, additional_special_tokens=[IM_START],
                                   model_max_length=model_max_length)
    fast.chat_template = CHATML
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast


def chars_per_token(tokenizer, texts: list[str]) -> float:
    n_chars = sum(len(t) for t in texts)
    n_tok = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return n_chars / max(1, n_tok)


def train_tokenizer(ws: Workspace, files: list[Path] | None = None) -> Path:
    cfg = ws.cfg.tokenizer
    if cfg.kind == "pretrained":
        from transformers import AutoTokenizer

        src = cfg.path or ws.cfg.model.base
        if not src:
            raise ValueError("tokenizer.kind=pretrained needs tokenizer.path or model.base")
        tok = AutoTokenizer.from_pretrained(src)
        if cfg.chat_template:
            set_template(tok, cfg.chat_template, ws.root)
        tok.save_pretrained(ws.tokenizer_dir)
        return ws.tokenizer_dir
    files = files or [ws.clean_dir / "train.jsonl"]
    for f in files:
        if not f.exists():
            raise FileNotFoundError(f"{f} not found: run `zaomo data run` first, or pass training files")
    tok = train_bpe(_texts(files, cfg.max_train_chars), cfg.vocab_size, ws.tokenizer_dir, cfg.min_frequency,
                    ws.cfg.model.seq_len)
    if cfg.chat_template and cfg.chat_template != "chatml":  # ChatML is the trained BPE's own
        set_template(tok, cfg.chat_template, ws.root)
        tok.save_pretrained(ws.tokenizer_dir)
    val = ws.clean_dir / "val.jsonl"
    sample = [r.get("text", "") for r in iter_jsonl(val)] if val.exists() else []
    sample = sample or list(_texts(files, 200_000))
    stats = {"vocab_size": len(tok), "chars_per_token_val": round(chars_per_token(tok, sample), 3)}
    atomic_write_json(ws.tokenizer_dir / "stats.json", stats)
    return ws.tokenizer_dir

