"""The filters measured both ways on shipped data: every evasion variant of every built-in word is caught,
and at most 1% of the innocent zh/en texts of benchmarks/data/safety_innocent.jsonl are flagged."""

from pathlib import Path

import pytest

from zaomo.safety.evaluate import evasion_catch, false_positives, read_texts
from zaomo.safety.matcher import SensitiveMatcher

INNOCENT = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "safety_innocent.jsonl"


@pytest.fixture(scope="module")
def matcher():
    return SensitiveMatcher.from_files([])


def test_innocent_set_is_large_and_bilingual():
    rows = read_texts(INNOCENT)
    assert len(rows) >= 200 and len({r["id"] for r in rows}) == len(rows)
    assert {r["lang"] for r in rows} == {"zh", "en"} and min(sum(r["lang"] == lang for r in rows)
                                                             for lang in ("zh", "en")) >= 100


def test_false_positive_rates_at_most_one_percent(matcher):
    fp = false_positives(read_texts(INNOCENT), matcher)
    assert fp.word_rate <= 0.01, fp.word_hits
    assert fp.pii_rate <= 0.01, fp.pii_hits


def test_every_evasion_variant_is_still_caught(matcher):
    ev = evasion_catch(matcher)
    assert ev.total == 9 * ev.words and ev.rate == 1.0, ev.missed
