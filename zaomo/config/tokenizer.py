"""`tokenizer:` — train a byte-level BPE on the clean corpus, or use a base model's tokenizer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class TokenizerConfig(Section):
    kind: Literal["bpe", "pretrained"] = Field("bpe", description="train byte-level BPE, or use `path`")
    path: str | None = Field(None, description="tokenizer dir or hub id when kind=pretrained (defaults to model.base)")
    vocab_size: int = Field(6400, ge=300, description="vocabulary size including special tokens")
    min_frequency: int = Field(2, ge=1, description="minimum pair frequency for a merge")
    output_dir: str = Field("tokenizer", description="where the trained tokenizer is saved")
    chat_template: str | None = Field(
        None, description="chat template: 'chatml', a .jinja file, or Jinja text; unset = the tokenizer's own "
        "(a trained BPE gets ChatML; a base without one must set this)")
    max_train_chars: int = Field(200_000_000, ge=1, description="cap on characters read for training")
