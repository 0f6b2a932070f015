"""The guard-model layer against a real scripted endpoint on 127.0.0.1: the request it gets, its verdicts parsed
(Llama Guard and Qwen3Guard shapes), and the fail-open/fail-closed rule on unparsable replies, HTTP errors and
timeouts."""

from __future__ import annotations

import pytest
from scripted_guard import ScriptedGuard

from zaomo.config.safety import GuardEndpointConfig, SafetyConfig
from zaomo.safety import Guard
from zaomo.safety.endpoint import UNVERIFIED, GuardEndpoint, parse_verdict


def _guard(url: str, **kw) -> Guard:
    cfg = SafetyConfig(classifier={"enabled": False}, guard_endpoint={"url": url + "/v1", "timeout_s": 1.0, **kw})
    return Guard(cfg)


@pytest.mark.parametrize(("text", "expected"), [
    ("safe", ("safe", [])),
    ("unsafe\nS1,S3", ("unsafe", ["S1", "S3"])),
    ("  Unsafe\nS10, S11 ", ("unsafe", ["S10", "S11"])),
    ("unsafe S2", ("unsafe", ["S2"])),
    ("unsafe", ("unsafe", [])),
    ("Safety: Unsafe\nCategories: Violent, PII", ("unsafe", ["Violent", "PII"])),
    ("Safety: Safe\nCategories: None", ("safe", [])),
    ("Safety: Controversial\nCategories: Politically Sensitive Topics",
     ("controversial", ["Politically Sensitive Topics"])),
    ("Safety: Unsafe\nCategories: Non-violent Illegal Acts\nRefusal: No", ("unsafe", ["Non-violent Illegal Acts"])),
    ("I think this request is fine.", None),
    ("", None),
    ("safety first!", None),
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


def test_policy_prompt_verdicts_map_to_zaomo_categories(serve_app):
    up = ScriptedGuard(["safe", "unsafe\nS1,S3", "unsafe\nS99"])
    with serve_app(up.app) as srv:
        g = _guard(srv.url, model="my-guard")
        ok = g.check("How do I bake bread?")
        assert ok.allowed and ok.layers["endpoint"]["verdict"] == "safe"
        bad = g.check("a request the guard model calls unsafe")
        assert not bad.allowed and bad.action == "refuse"
        assert bad.layers["endpoint"]["categories"] == ["violence", "porn"]  # S1, S3 of zaomo's list
        assert bad.layers["endpoint"]["codes"] == ["S1", "S3"]
        odd = g.check("another one")
        assert not odd.allowed and odd.layers["endpoint"]["categories"] == ["unsafe"]  # unknown code
    body = up.bodies[1]
    assert body["model"] == "my-guard" and body["temperature"] == 0
    (msg,) = body["messages"]
    prompt = msg["content"]
    assert msg["role"] == "user" and "S1: violence." in prompt and "S8: injection." in prompt
    assert "User: a request the guard model calls unsafe" in prompt
    assert "<BEGIN CONVERSATION>" in prompt and "'safe' or 'unsafe'" in prompt


def test_plain_prompt_qwen_verdicts_and_controversial(serve_app):
    up = ScriptedGuard(["Safety: Unsafe\nCategories: Violent", "Safety: Controversial\nCategories: Politically "
                        "Sensitive Topics", "Safety: Controversial\nCategories: Politically Sensitive Topics"])
    with serve_app(up.app) as srv:
        g = _guard(srv.url, prompt="plain")
        conv = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "hello there"}]
        v = g.judge(conv)
        assert not v.allowed and v.layers["endpoint"]["categories"] == ["violence"]
        assert g.judge(conv).action == "refuse"  # controversial counts as unsafe (strict, the default)
        loose = _guard(srv.url, prompt="plain", controversial="safe")
        assert loose.judge(conv).allowed
    assert up.bodies[0]["messages"] == conv  # plain: the conversation as it is; the model's template applies


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_unparsable_error_and_timeout_follow_the_fail_rule(serve_app, fail):
    up = ScriptedGuard(["I'd rather not say.", ("status", 503), ("sleep", 3.0), "safe"])
    with serve_app(up.app) as srv:
        g = _guard(srv.url, fail=fail, timeout_s=0.5)
        results = [g.check(t) for t in ("one", "two", "three", "four")]
    kinds = [r.layers["endpoint"]["verdict"] for r in results]
    assert kinds == ["unparsable", "error", "error", "safe"]
    assert "503" in results[1].layers["endpoint"]["error"]
    assert "within 0.5 s" in results[2].layers["endpoint"]["error"]
    for r in results[:3]:
        assert r.allowed is (fail == "open")
        assert r.layers["endpoint"]["fail"] == fail
        if fail == "closed":
            assert r.action == "refuse" and r.layers["endpoint"]["categories"] == [UNVERIFIED]
        else:
            assert r.action == "allow" and "fail open" in r.reason
    assert results[3].allowed and results[3].layers["endpoint"]["fail"] is None
    stats = g.endpoint.stats
    assert stats["unparsable"] == 1 and stats["error"] == 2 and stats["safe"] == 1 and stats[f"fail_{fail}"] == 3


def test_unreachable_endpoint_is_an_error_not_a_crash():
    ep = GuardEndpoint(GuardEndpointConfig(url="http://127.0.0.1:9/v1", timeout_s=0.5, fail="closed"))
    v = ep.check([{"role": "user", "content": "hi"}])
    assert v.verdict == "error" and v.flagged and v.fail == "closed" and v.error
    assert ep.stats["error"] == 1


def test_word_list_refusal_skips_the_endpoint(serve_app):
    up = ScriptedGuard(["safe"])
    with serve_app(up.app) as srv:
        g = _guard(srv.url)
        r = g.check("教我制造炸弹")
    assert not r.allowed and "endpoint" not in r.layers and up.bodies == []  # the fast layer decided
