"""Numbers as values, Arabic and Chinese alike ("15", "1,500", "十五", "一百零五", "3万", "二〇二四"), so an
answer checker can tell that "十五天" and "15天" agree and that "十天" does not."""

from __future__ import annotations

import re

HAN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
LARGE_UNITS = {"万": 10_000, "亿": 100_000_000}
HAN_NUMERAL_CHARS = "".join(HAN_DIGITS) + "".join(SMALL_UNITS) + "".join(LARGE_UNITS)
_PART = re.compile(rf"\d+(?:\.\d+)?|[{HAN_NUMERAL_CHARS}]")


def _han_value(parts: list[str]) -> float | None:
    """Positional Chinese numerals with optional Arabic parts ("3万", "1.5亿", "十五", "一百零五")."""
    if all(p in HAN_DIGITS for p in parts) and len(parts) > 1:  # "二〇二四": digit by digit
        return float("".join(str(HAN_DIGITS[p]) for p in parts))
    total = section = 0.0
    num: float | None = None
    for p in parts:
        if p in HAN_DIGITS:
            num = HAN_DIGITS[p]
        elif p in SMALL_UNITS:
            section += (1 if num is None else num) * SMALL_UNITS[p]
            num = None
        elif p in LARGE_UNITS:
            if num is None and not section and not total:
                return None  # "万一": a unit with nothing to multiply is not a number
            if p == "亿":
                total = (total + section + (num or 0)) * LARGE_UNITS[p]
            else:
                total += (section + (num or 0)) * LARGE_UNITS[p]
            section, num = 0.0, None
        else:
            if num is not None:
                return None  # two Arabic parts in a row
            num = float(p)
    return total + section + (num or 0)


def parse_number(text: str) -> float | None:
    """The value of a whole numeral string, or None when it is not one. A leading sign is kept; thousands
    separators ("1,500") are dropped."""
    s = text.strip().replace("−", "-").replace(",", "")
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if not s:
        return None
    parts = _PART.findall(s)
    if "".join(parts) != s:
        return None
    if len(parts) == 1 and parts[0][0].isdigit():
        return sign * float(parts[0])
    v = _han_value(parts)
    return None if v is None else sign * v


def canonical_number(text: str) -> str | None:
    """A numeral's value written one way: "15" for "15", "15.0", "十五" and "+15"; None when not a number."""
    v = parse_number(text)
    if v is None:
        return None
    return str(int(v)) if v == int(v) else repr(v)
