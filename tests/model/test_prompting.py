"""The one rule that puts a prompt version into a conversation (serve and eval share it)."""

from __future__ import annotations

import pytest

from zaomo.model.prompting import parse_ref, with_prompt


def test_system_text_goes_first_and_the_template_wraps_the_last_user_turn():
    msgs = [{"role": "user", "content": "一"}, {"role": "assistant", "content": "二"},
            {"role": "user", "content": "a {b} c"}]
    out = with_prompt(msgs, "SYS", "Q: {input} {json: 1}")
    assert out == [{"role": "system", "content": "SYS"}, *msgs[:2],
                   {"role": "user", "content": "Q: a {b} c {json: 1}"}]  # braces elsewhere left alone
    assert msgs[2]["content"] == "a {b} c"  # the input is not modified


def test_an_existing_first_system_message_follows_the_prompt_text():
    rag = [{"role": "system", "content": "资料：[1] …"}, {"role": "user", "content": "问"}]
    assert with_prompt(rag, "你是客服。")[0] == {"role": "system", "content": "你是客服。\n\n资料：[1] …"}
    parts = [{"role": "system", "content": [{"type": "text", "text": "client"}]}, {"role": "user", "content": "q"}]
    assert with_prompt(parts, "SYS")[0]["content"] == [{"type": "text", "text": "SYS\n\n"},
                                                       {"type": "text", "text": "client"}]
    assert with_prompt(rag, None, None) == rag


def test_refs():
    assert (parse_ref("support"), parse_ref("support:12")) == (("support", None), ("support", 12))
    for bad in ("support:x", ":2", "support:"):
        with pytest.raises(ValueError, match="NAME:VERSION"):
            parse_ref(bad)
