"""`safety:` — one policy for data cleaning and for serving: word lists, PII, injection checks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section

Action = Literal["drop", "mask", "block", "refuse", "allow"]


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
                                 "politics": "refuse", "ads": "mask"},
        description="category → action (drop/mask at cleaning; block/refuse/mask at serving)")
    pii_types: list[str] = Field(
        default_factory=lambda: ["id_card", "mobile", "bank_card", "credit_code", "email", "ip"],
        description="PII kinds detected and masked")
    injection_check: bool = Field(True, description="prompt-injection and jailbreak heuristics on input")
    refusal_zh: str = Field("抱歉，这个请求我无法协助。", description="refusal message in Chinese")
    refusal_en: str = Field("Sorry, I can't help with that request.", description="refusal message in English")
