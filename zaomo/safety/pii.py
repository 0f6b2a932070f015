"""PII detection and masking: Chinese ID card numbers (GB 11643 checksum), mobile numbers, bank cards
(Luhn), unified social credit codes (GB 32100 checksum), e-mail and IP addresses.

Regexes find candidates with boundaries that keep them whole (no mobile number inside a longer digit run or a
decimal, no card number made of a list of small numbers); checksums and context decide, so an order number
that happens to have 18 digits is not masked as an ID card, "version 4.7.2.1" or "第 3.2.1.4 节" is not an IP
address and "logo@2x.png" is not an e-mail address.
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
# A number is whole when no letter, digit or "digit." / "digit-" (a decimal, a dashed id) continues it.
_START = r"(?<![0-9A-Za-z_])(?<!\d[.\-])"
_END = r"(?![0-9A-Za-z_])(?![.\-]\d)"
PATTERNS = {
    "id_card": re.compile(_START + r"[1-9]\d{16}[\dXx]" + _END),
    "credit_code": re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])"),
    # card numbers as cards print them: one run of 16-19 digits, or groups of four (the last of 1-3) with one
    # kind of separator; issuer digit 3-6 (JCB/Amex, Visa, Mastercard, UnionPay) or 9 (domestic debit)
    "bank_card": re.compile(_START + r"(?:[3-69]\d{15,18}" + _END + r"|(?<!\d )[3-69]\d{3}(?P<sep>[ -])\d{4}(?P=sep)"
                            r"\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,3})?(?![0-9A-Za-z_])(?![ .\-]\d))"),
    "mobile": re.compile(_START + r"(?:(?:\+86|0086|86)[ -]?)?1[3-9]\d(?:\d{8}|(?P<sep>[ -])\d{4}(?P=sep)\d{4})"
                         + _END),
    "email": re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?@"
                        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24})(?![A-Za-z0-9-])"),
    "ip": re.compile(r"(?<![0-9A-Za-z_])(?<!\d\.)(?:\d{1,3}\.){3}\d{1,3}(?![0-9A-Za-z_])(?!\.\d)"),
}
ALL_TYPES = list(PATTERNS)
# What a dotted quad is, by the nearest cue word before it in its clause: a version or a section number after
# "version", "build", "§", "第", "升级到"…; an address after "IP", "server", "服务器"…; an address when no cue.
_EN = r"(?<![A-Za-z])(?:{})(?![A-Za-z])"
IP_CUES = re.compile(
    "(?P<version>" + _EN.format(
        r"v|ver|version|versions|release|rel|build|builds|rev|revision|firmware|kernel|sdk|section|sec|chapter|ch|"
        r"clause|part|step|appendix|requirement|req|article|paragraph|para|annex|upgrade to|update to|upgraded to|"
        r"updated to|bump to|bumped to|since") + r"|(?-i:Figure|Fig|Table)|§|版本号?|版|固件|内核|第|章节?|节|"
    r"条款?|参见|步骤|附录|升级到|升级至|更新到|更新至|(?<![\u4e00-\u9fff])[图表])"
    "|(?P<address>" + _EN.format(r"ip|ips|ipv4|address|addresses|addr|host|hosts|hostname|server|servers|gateway|"
                                 r"dns|ping|ssh|http|https|subnet|router|proxy|client ip|peer") +
    r"|地址|服务器|主机|网关|路由|代理|来自|访问|登录|连接|网段)", re.IGNORECASE)
NOT_IP_AFTER = re.compile(r"\s*(?:节|章|条|款|小节|部分|版|(?:之后|之前|以后|以前)?的?版本|及以上|以上|以下|升级|更新|"
                          r"or later|or newer|and later|(?:section|chapter|release)\b)", re.IGNORECASE)
NUMBER = re.compile(r"\d")
CLAUSE_END = re.compile(r"[，。！？；,;!?\n]|\.(?=\s)")  # a label's colon ("IP: ", "订单号：") stays with it
# Labels of numbers that identify things, not people: an 11-digit pallet id or sample id is no phone number.
ID_LABELS = re.compile(
    r"(?:订单|运单|快递单|物流单|流水|编|序列|型|批|批次|工|学|货|车次|房间|合同|发票|账单|工单|票|单|条码|箱|托盘)号|编号|"
    r"条形?码|批号|(?<![A-Za-z])(?:ids?|sku|serial|order|tracking|invoice|ticket|pallets?|samples?|ref|reference|"
    r"part no|item no|batch|lot)(?![A-Za-z])", re.IGNORECASE)
# Top-level "domains" that are file extensions: "logo@2x.png", "icon@3x.webp", "bundle@1.0.js".
FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp bmp ico tif tiff heic avif pdf js mjs cjs ts tsx jsx css scss sass less json "
    "yaml yml toml ini cfg lock py pyc rb go rs java kt swift c cc cpp h hpp cs php md rst txt log html htm xml "
    "csv tsv xls xlsx doc docx ppt pptx mp3 mp4 wav mov avi mkv webm zip gz tgz tar rar bz2 xz whl exe dll so "
    "dylib bin dat wasm map vue svelte".split())


def valid_id_card(s: str) -> bool:
    s = s.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    year, month, day = int(s[6:10]), int(s[10:12]), int(s[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
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


def _clause_before(text: str, start: int, span: int = 48) -> str:
    """The text of the clause before `start` (at most `span` characters)."""
    before = text[max(0, start - span):start]
    ends = list(CLAUSE_END.finditer(before))
    return before[ends[-1].end():] if ends else before


def valid_ip(text: str, m: re.Match[str]) -> bool:
    """Octets ≤ 255 without leading zeros (ipaddress decides), and not a version or section number. The
    nearest cue before it in its clause decides ("version", "第", "升级到" → not an address; "IP", "server",
    "服务器" → an address); a cue already followed by another number ("版本 2.3 部署在 …") is spent. With no
    cue, "节/版本/or later" after it or a shorter number of the same outline in the text ("3.1 一般要求 …
    3.1.1.1 材料") make it a section or version number."""
    try:
        ipaddress.IPv4Address(m.group())
    except ValueError:
        return False
    clause = _clause_before(text, m.start())
    cues = list(IP_CUES.finditer(clause))
    if cues and not NUMBER.search(clause, cues[-1].end()):
        return cues[-1].lastgroup == "address"
    if NOT_IP_AFTER.match(text, m.end()):
        return False
    parts = m.group().split(".")
    return not any(re.search(rf"(?<![\d.]){re.escape('.'.join(parts[:k]))}(?![\d]|\.\d)", text) for k in (2, 3))


def labelled_id(text: str, start: int) -> bool:
    """Whether the clause before a number labels it as the id of a thing (订单号, SKU, pallet IDs…)."""
    return ID_LABELS.search(_clause_before(text, start, 32)) is not None


def valid_email(m: re.Match[str]) -> bool:
    """A domain, not a file name: the last label is no file extension, the first no "@2x" scale suffix."""
    domain = m.group().rsplit("@", 1)[1]
    return m.group("tld").lower() not in FILE_EXTENSIONS and not re.fullmatch(r"\d+(?:\.\d+)?x", domain.split(".")[0])


def _valid(kind: str, text: str, m: re.Match[str]) -> bool:
    s = m.group()
    if kind == "id_card":
        return valid_id_card(s)
    if kind == "bank_card":
        return valid_luhn(s) and not labelled_id(text, m.start())
    if kind == "mobile":
        return not labelled_id(text, m.start())
    if kind == "credit_code":
        return valid_credit_code(s)
    if kind == "ip":
        return valid_ip(text, m)
    return valid_email(m)


def find_pii(text: str, types: list[str] | None = None) -> list[Finding]:
    """Non-overlapping PII spans; checksummed kinds first so an ID card is not also a bank card."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for kind in ALL_TYPES:
        if types is not None and kind not in types:
            continue
        for m in PATTERNS[kind].finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken) or not _valid(kind, text, m):
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
