"""`feedback:` — how `zaomo iterate` turns users' feedback into the next model version."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class FeedbackConfig(Section):
    method: Literal["sft", "lora", "dpo", "orpo", "simpo", "kto"] = Field(
        "sft", description="train the candidate by full SFT, LoRA, or LoRA on preferences: dpo/orpo/simpo (pairs), "
        "kto (every thumbs up/down on its own)")
    steps: int = Field(60, ge=1, description="optimizer steps for a candidate")
    lr: float = Field(3e-4, gt=0, description="learning rate for a candidate")
    replay: int = Field(200, ge=0, description="old SFT records mixed in with the feedback (against forgetting)")
    general_share: float = Field(0.2, ge=0, lt=1, description="share of an SFT candidate's training records drawn "
                                 "from general data (against forgetting); 0 = none")
    general_file: str | None = Field(None, description="general data to replay (JSONL of text or messages); "
                                     "default: the clean pretraining text, data.output_dir/train.jsonl")
    general_gates: dict[str, float] = Field(
        default_factory=lambda: {"perplexity.bits_per_char": 0.05, "choice.accuracy": 0.05},
        description="general-ability gate every candidate must pass besides eval.gates: metric → largest allowed "
        "worsening (perplexity on eval.text_file, default the held-out clean text); a task without data is skipped")
    extra_data: list[str] = Field(default_factory=list, description="more SFT files (chat JSONL) trained with the "
                                  "feedback, e.g. data/sft/kg.jsonl from `zaomo kg import`")
