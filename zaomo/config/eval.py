"""`eval:` — which tasks, on which sets, and the regression gate the feedback loop uses."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class JudgeConfig(Section):
    url: str | None = Field(None, description="OpenAI-compatible base URL of the judge model (…/v1)")
    model: str = Field("judge", description="model name sent to the judge endpoint")
    api_key_env: str = Field("JUDGE_API_KEY", description="environment variable with the judge's key")
    mode: Literal["single", "pairwise"] = Field(
        "single", description="single: 1-10 score; pairwise: against the item's reference, both orders")
    file: str | None = Field(None, description="questions to judge (defaults to eval.qa_file)")


class SpeedConfig(Section):
    concurrency: int = Field(4, ge=1, description="simultaneous streaming requests")
    requests: int = Field(16, ge=1, description="requests in total")
    max_tokens: int = Field(64, ge=1, description="tokens asked per request")


class ClozeConfig(Section):
    """The domain question set `zaomo run` builds from your held-out documents (docs/run.md)."""

    questions: int = Field(200, ge=0, description="most cloze questions (a sentence with a number, date, name or "
                           "term blanked out; the span is the answer); 0 = none")
    per_document: int = Field(2, ge=1, description="most questions from one held-out document")
    split: Literal["val", "test"] = Field("val", description="held-out split the questions come from (never "
                                          "trained on; training records overlapping them are removed)")
    min_context: int = Field(8, ge=3, description="least characters (Chinese) or words (other text) a sentence "
                             "keeps besides its blank, so that the question says what it asks")
    file: str = Field("data/heldout/domain_qa.jsonl", description="where the domain set is written (outside "
                      "data/eval, whose items decontaminate every split)")


class GeneratorConfig(Section):
    """An OpenAI-compatible model that writes question-answer pairs from held-out passages."""

    url: str | None = Field(None, description="base URL (…/v1) of any OpenAI-compatible model; unset = cloze "
                            "questions only")
    model: str = Field("generator", description="model name sent to the endpoint")
    api_key_env: str = Field("GENERATOR_API_KEY", description="environment variable with the endpoint's key")
    questions: int = Field(50, ge=1, description="most passages sent (one question each)")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout")


class EvalConfig(Section):
    tasks: list[str] = Field(default_factory=lambda: ["perplexity", "qa", "choice", "safety"],
                             description="tasks: perplexity, qa, choice, safety, judge, speed (endpoint)")
    target: str | None = Field(None, description="model dir/name or http(s) URL of an OpenAI-compatible endpoint")
    text_file: str | None = Field(None, description="text set for perplexity (defaults to data.output_dir/val.jsonl)")
    qa_file: str | None = Field("data/eval/qa_heldout.jsonl", description="QA set with answers (and gold doc_ids)")
    choice_file: str | None = Field("data/eval/choice.jsonl", description="multiple-choice set: zaomo JSONL, a "
                                    "C-Eval/CMMLU/MMLU CSV, or a folder of them (*_dev.csv = few-shot pool)")
    safety_file: str | None = Field(None, description="your safety prompts, JSONL of {prompt, expected: refuse|answer, "
                                    "category, lang?}, scored beside the built-in set")
    safety_builtin: bool = Field(True, description="score the built-in safety set's test split (zh/en, harmful and "
                                 "benign near-miss prompts the safety classifier never trained on)")
    safety_builtin_per_group: int = Field(0, ge=0, description="only the first n built-in prompts of each category, "
                                          "language and expectation (0 = all; a smaller run on a CPU)")
    max_new_tokens: int = Field(48, ge=1, description="generation budget per answer")
    batch_size: int = Field(16, ge=1, description="items per forward pass")
    shots: int = Field(0, ge=0, description="few-shot examples for multiple choice")
    choice_mode: Literal["letter", "full"] = Field(
        "letter", description="letter: score the option letter; full: the option text, per character")
    circular: bool = Field(False, description="ask every rotation of the options; right only if all are")
    contamination_files: list[str] = Field(
        default_factory=lambda: ["auto"], description="training data of the evaluated model, for clean vs "
        "contaminated scores (13-gram overlap); auto: data.output_dir/train.jsonl; [] = off")
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    cloze: ClozeConfig = Field(default_factory=ClozeConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    speed: SpeedConfig = Field(default_factory=SpeedConfig)
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for confidence intervals")
    gates: dict[str, float] = Field(default_factory=lambda: {"qa.accuracy": 0.02},
                                    description="metric → largest allowed drop; compare exits non-zero past it")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable with the key of an endpoint target")
