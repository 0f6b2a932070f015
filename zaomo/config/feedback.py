"""`feedback:` — how user feedback becomes the next model version."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class FeedbackConfig(Section):
    method: Literal["sft", "lora", "dpo"] = Field("sft", description="how `zaomo iterate` trains on feedback")
    min_records: int = Field(1, ge=1, description="feedback records needed before iterate trains")
    steps: int = Field(60, ge=1, description="optimizer steps for an iteration")
    replay_ratio: float = Field(1.0, ge=0, description="old SFT data mixed in per feedback record (against forgetting)")
