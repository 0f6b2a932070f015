"""`eval:` — which tasks, on which sets, and the regression gate the feedback loop uses."""

from __future__ import annotations

from pydantic import Field

from .base import Section


class EvalConfig(Section):
    tasks: list[str] = Field(default_factory=lambda: ["perplexity", "qa", "choice", "safety"],
                             description="tasks: perplexity, qa, choice, safety")
    target: str | None = Field(None, description="model dir/name or http(s) URL of an OpenAI-compatible endpoint")
    text_file: str | None = Field(None, description="text set for perplexity (defaults to data.output_dir/val.jsonl)")
    qa_file: str | None = Field("data/eval/qa_heldout.jsonl", description="QA set with answers (and gold doc_ids)")
    choice_file: str | None = Field("data/eval/choice.jsonl", description="multiple-choice set")
    safety_file: str | None = Field(None, description="extra adversarial prompts (the built-in set is always used)")
    max_new_tokens: int = Field(48, ge=1, description="generation budget per answer")
    batch_size: int = Field(16, ge=1, description="items per forward pass")
    shots: int = Field(0, ge=0, description="few-shot examples for multiple choice")
    choice_mode: str = Field("letter", description="letter: score the option letter; full: score the option text")
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for confidence intervals")
    gates: dict[str, float] = Field(default_factory=lambda: {"qa.accuracy": 0.02},
                                    description="metric → largest allowed drop; compare exits non-zero past it")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable with the key of an endpoint target")
