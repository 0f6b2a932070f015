"""Prompt-injection and jailbreak heuristics (Chinese and English), local and sub-millisecond.

Patterns over the normalised-for-case text cover the families seen in public jailbreak sets:
"ignore previous instructions", system-prompt extraction, persona jailbreaks (DAN, "no rules"),
fake system turns, role-play framing of forbidden requests, and decode-and-follow tricks.
"""

from __future__ import annotations

import re
import unicodedata

from .matcher import Finding

RULES: list[tuple[str, str]] = [
    ("ignore_instructions", r"(ignore|disregard|forget)\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier|preceding)"
                            r"(\s+\w+)?\s+(instructions?|rules|prompts?|messages?)"),
    ("ignore_instructions", r"ignore\s+the\s+above"),
    ("ignore_instructions", r"(忽略|无视|忘记|忘掉|不要理会)(之前|以上|上面|前面|先前|所有)(的)?(所有)?(指令|指示|规则|要求|设定|提示)"),
    ("prompt_extraction", r"(print|reveal|show|repeat|output)\s+(me\s+)?(your|the)\s+(system\s+prompt|instructions|hidden)"),
    ("prompt_extraction", r"(输出|告诉我|显示|重复|泄露)(你的)?(系统提示|系统指令|提示词|初始指令)"),
    ("persona_jailbreak", r"\bdan\b|do anything now|developer mode|jailbreak|no (rules|restrictions|limits|filters)"),
    ("persona_jailbreak", r"(没有|不受|无)(任何)?(限制|约束|规则|道德)|开发者模式|越狱"),
    ("fake_system", r"(^|\n)\s*(system|系统)\s*[:：]|safety\s*(mode\s*)?(is\s*)?(off|disabled)|安全模式已?(关闭|解除)"),
    ("roleplay", r"(pretend|act|roleplay|role-play)\s+(you\s+are|as|to\s+be)\s+.{0,40}(evil|hacker|no\s+limits|without)"),
    ("roleplay", r"(假装|扮演|你现在是).{0,20}(黑客|没有道德|不受限制|邪恶|去世的奶奶)"),
    ("encoding_trick", r"(decode|base64|rot13|reverse).{0,30}(follow|execute|do it|and answer)"),
    ("encoding_trick", r"(倒过来|反过来|解码|base64).{0,10}(执行|照做|回答)"),
]
COMPILED = [(name, re.compile(p, re.IGNORECASE)) for name, p in RULES]


def find_injection(text: str) -> list[Finding]:
    norm = unicodedata.normalize("NFKC", text)
    out = []
    for name, rx in COMPILED:
        m = rx.search(norm)
        if m:
            out.append(Finding("injection", name, m.start(), m.end(), m.group()))
    return out
