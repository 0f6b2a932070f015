"""`feedback:` — how `zaomo iterate` turns users' feedback into the next model version."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class FeedbackConfig(Section):
    method: Literal["sft", "lora", "dpo"] = Field("sft", description="train the candidate by full SFT, LoRA, or DPO")
    steps: int = Field(60, ge=1, description="optimizer steps for a candidate")
    lr: float = Field(3e-4, gt=0, description="learning rate for a candidate")
    replay: int = Field(200, ge=0, description="old SFT records mixed in with the feedback (against forgetting)")
    extra_data: list[str] = Field(default_factory=list, description="more SFT files (chat JSONL) trained with the "
                                  "feedback, e.g. data/sft/kg.jsonl from `zaomo kg import`")
