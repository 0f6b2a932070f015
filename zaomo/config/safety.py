"""`safety:` — one policy for data cleaning and for serving: word lists, PII, injection checks, and the
model-based layers of the serving guard (a classifier zaomo trains, a guard model behind an endpoint)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import Section

Action = Literal["drop", "mask", "block", "refuse", "log", "allow"]

# Llama Guard 3's hazard codes and Qwen3Guard's category names → zaomo categories (lower-cased keys).
GUARD_MODEL_CATEGORIES = {
    "s1": "violence", "s2": "illegal", "s3": "porn", "s4": "porn", "s5": "hate", "s6": "illegal",
    "s7": "privacy", "s8": "illegal", "s9": "violence", "s10": "hate", "s11": "self_harm", "s12": "porn",
    "s13": "politics", "s14": "injection",
    "violent": "violence", "non-violent illegal acts": "illegal", "sexual content or sexual acts": "porn",
    "pii": "privacy", "suicide & self-harm": "self_harm", "unethical acts": "hate",
    "politically sensitive topics": "politics", "copyright violation": "illegal", "jailbreak": "injection",
}


class ClassifierConfig(Section):
    enabled: bool = Field(True, description="score every input with the safety classifier (serving guard)")
    path: str = Field("models/safety-classifier/classifier.joblib",
                      description="the classifier `zaomo safety train` writes and the guard loads; when it does "
                      "not exist the guard trains one in memory on the same data at first use (~2 s)")
    threshold: float = Field(0.6, ge=0, le=1, description="block when P(unsafe) reaches this (categories without "
                             "their own threshold); 0.6 passes ~90% of benign prompts in cross-validation on the "
                             "built-in train split, lower blocks more and passes fewer")
    thresholds: dict[str, float] = Field(default_factory=lambda: {"self_harm": 0.45},
                                         description="category → its own threshold on P(unsafe) (the category is "
                                         "the classifier's most likely one); self-harm prompts are short and "
                                         "varied, and missing one costs most")
    train_files: list[str] = Field(default_factory=list, description="your labelled prompts, JSONL of "
                                   "{prompt, expected: refuse|answer, category, lang?, split?: train|test}")
    builtin_set: bool = Field(True, description="train on the built-in policy set's train split too")

    @field_validator("thresholds")
    @classmethod
    def _in_range(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: t for k, t in v.items() if not 0 <= t <= 1}
        if bad:
            raise ValueError(f"thresholds must lie in [0, 1]; got {bad}")
        return v


class GuardEndpointConfig(Section):
    url: str | None = Field(None, description="OpenAI-compatible base URL (…/v1) of a guard model "
                            "(Llama Guard, Qwen3Guard, or any instruction model); unset = no endpoint layer")
    model: str = Field("guard", description="model name sent to the endpoint")
    api_key_env: str = Field("GUARD_API_KEY", description="environment variable with the endpoint's key")
    timeout_s: float = Field(5.0, gt=0, description="seconds to wait for a verdict")
    fail: Literal["open", "closed"] = Field(
        "closed", description="on an error, a timeout or an unparsable verdict: open = allow, closed = refuse")
    prompt: Literal["policy", "plain"] = Field(
        "policy", description="policy: send a Llama-Guard-style task prompt listing zaomo's categories (S1…); "
        "plain: send the conversation as chat messages and let the guard model's own template and categories "
        "apply (Llama Guard 3 / Qwen3Guard served by vLLM)")
    categories: dict[str, str] = Field(default_factory=lambda: dict(GUARD_MODEL_CATEGORIES),
                                       description="the guard model's category codes/names → zaomo categories "
                                       "(prompt: plain); unknown codes count as category 'unsafe'")
    controversial: Literal["safe", "unsafe"] = Field(
        "unsafe", description="Qwen3Guard's 'Controversial' verdict: unsafe (strict) or safe (loose)")
    max_tokens: int = Field(32, ge=1, description="tokens asked for the verdict")


class SafetyConfig(Section):
    builtin_wordlist: bool = Field(True, description="use zaomo's built-in categories")
    wordlists: list[str] = Field(default_factory=list,
                                 description="user word lists: lines of `word<TAB>category[<TAB>context]`")
    builtin_allowlist: bool = Field(True, description="use zaomo's built-in allowed phrases (security awareness, "
                                    "law-enforcement news, 'bomb shelter'…)")
    allowlists: list[str] = Field(default_factory=list,
                                  description="user allow lists: lines of allowed phrases (`a|b…term`, `!exception`)")
    allow: list[str] = Field(default_factory=list,
                             description="allowed phrases given inline; a match they cover is not reported")
    actions: dict[str, Action] = Field(
        default_factory=lambda: {"violence": "refuse", "illegal": "refuse", "porn": "refuse",
                                 "politics": "refuse", "self_harm": "refuse", "privacy": "refuse",
                                 "hate": "refuse", "injection": "refuse", "ads": "mask"},
        description="category → action: drop/mask at cleaning; block/refuse (answer with the refusal), mask, "
                    "log (record only) at serving; a category not listed is refused")
    pii_types: list[str] = Field(
        default_factory=lambda: ["id_card", "mobile", "bank_card", "credit_code", "email", "ip"],
        description="PII kinds detected and masked")
    injection_check: bool = Field(True, description="prompt-injection and jailbreak heuristics on input")
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    guard_endpoint: GuardEndpointConfig = Field(default_factory=GuardEndpointConfig)
    refusal_zh: str = Field("抱歉，这个请求我无法协助。", description="refusal message in Chinese")
    refusal_en: str = Field("Sorry, I can't help with that request.", description="refusal message in English")
