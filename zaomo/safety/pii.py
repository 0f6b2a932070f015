"""PII detection and masking: Chinese ID card numbers (GB 11643 checksum), mobile numbers, bank cards
(Luhn), unified social credit codes (GB 32100 checksum), e-mail and IP addresses.

Regexes find candidates; checksums decide, so an order number that happens to have 18 digits is not
masked as an ID card.
"""

from __future__ import annotations

import ipaddress
import re

from .matcher import Finding

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
MASKS = {"id_card": "[身份证号]", "mobile": "[手机号]", "bank_card": "[银行卡号]", "credit_code": "[信用代码]",
         "email": "[邮箱]", "ip": "[IP]"}
PATTERNS = {
    "id_card": re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])"),
    "credit_code": re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])"),
    "bank_card": re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)"),
    "mobile": re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d{9}(?!\d)"),
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "ip": re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"),
}
ALL_TYPES = list(PATTERNS)


def valid_id_card(s: str) -> bool:
    s = s.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    month, day = int(s[10:12]), int(s[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    return "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], ID_WEIGHTS)) % 11] == s[17]


def valid_luhn(s: str) -> bool:
    digits = [int(c) for c in s if c.isdigit()]
    if not 16 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_credit_code(s: str) -> bool:
    if len(s) != 18 or any(c not in CREDIT_CHARS for c in s):
        return False
    total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(s[:17], CREDIT_WEIGHTS))
    return CREDIT_CHARS[(31 - total % 31) % 31] == s[17]


def _valid(kind: str, s: str) -> bool:
    if kind == "id_card":
        return valid_id_card(s)
    if kind == "bank_card":
        return valid_luhn(s)
    if kind == "credit_code":
        return valid_credit_code(s)
    if kind == "ip":
        try:
            ipaddress.ip_address(s)
        except ValueError:
            return False
    return True


def find_pii(text: str, types: list[str] | None = None) -> list[Finding]:
    """Non-overlapping PII spans; checksummed kinds first so an ID card is not also a bank card."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for kind in ALL_TYPES:
        if types is not None and kind not in types:
            continue
        for m in PATTERNS[kind].finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken) or not _valid(kind, m.group()):
                continue
            taken.append((s, e))
            found.append(Finding("pii", kind, s, e, m.group()))
    return sorted(found, key=lambda f: f.start)


def mask_spans(text: str, findings: list[Finding], label: dict[str, str] | None = None) -> str:
    out, last = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < last:
            continue
        out.append(text[last:f.start])
        out.append((label or {}).get(f.category, "*" * (f.end - f.start)))
        last = f.end
    out.append(text[last:])
    return "".join(out)


def mask_pii(text: str, types: list[str] | None = None) -> tuple[str, list[Finding]]:
    found = find_pii(text, types)
    return mask_spans(text, found, MASKS), found
