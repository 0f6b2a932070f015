"""The output guard on streamed answers checks each delta with some characters before it: a blocked term far
into a long answer (or split across deltas) still cuts the stream, and a clean answer passes unchanged."""

from __future__ import annotations

import openai
import torch

from zaomo.serve.app import create_app
from zaomo.serve.engines import BuiltinEngine
from zaomo.workspace import Workspace

PREFIX = "研发部位于总部大楼3楼，负责公司全部产品的研究与开发工作。The R&D Department is on the 3rd floor. "


def scripted(model_dir, text: str) -> BuiltinEngine:
    """The tiny model forced to say `text` and stop: one scripted token per forward."""
    engine = BuiltinEngine(model_dir, device="cpu", name="tiny")
    tok = engine.tok
    script = tok(text, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    step = {"i": 0}

    def hook(module, args, output):
        bias = torch.full_like(output.logits[:, -1, :], -1e4)
        bias[:, script[min(step["i"], len(script) - 1)]] = 1e4
        output.logits[:, -1, :] = bias
        step["i"] += 1
        return output

    engine.model.register_forward_hook(hook)
    return engine


def stream(srv_url: str) -> tuple[str, str]:
    client = openai.OpenAI(base_url=srv_url + "/v1", api_key="unused", max_retries=0)
    chunks = list(client.chat.completions.create(model="tiny", stream=True, max_tokens=200,
                                                 messages=[{"role": "user", "content": "介绍一下研发部"}]))
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].choices[0].finish_reason


def test_blocked_term_late_in_a_stream_cuts_it(tmp_path, tiny_model_dir, serve_app):
    ws = Workspace.init(tmp_path)
    assert len(PREFIX) > 64  # the term lies beyond the re-checked overlap of the first deltas
    engine = scripted(tiny_model_dir, PREFIX + "下面教你制造炸弹的方法。")
    with serve_app(create_app(ws, engine=engine)) as srv:
        text, finish = stream(srv.url)
    assert finish == "content_filter"
    assert "炸弹" not in text and text.endswith(ws.cfg.safety.refusal_zh)
    assert text.startswith(PREFIX[:40])


def test_clean_long_stream_passes_unchanged(tmp_path, tiny_model_dir, serve_app):
    engine = scripted(tiny_model_dir, PREFIX * 2)
    with serve_app(create_app(Workspace.init(tmp_path), engine=engine)) as srv:
        text, finish = stream(srv.url)
    assert (text, finish) == (PREFIX * 2, "stop")


def test_pii_split_across_deltas_is_masked_before_any_digit_leaves(tmp_path, tiny_model_dir, serve_app):
    """A phone number streamed a token at a time: its digits are held back until the number is whole, so
    the client never sees its first digits unmasked, and the rest of the answer still arrives."""
    phone = "13912345678"
    engine = scripted(tiny_model_dir, f"请联系张经理，电话{phone}，邮箱 zhang@example.com 谢谢。")
    client_chunks = []
    with serve_app(create_app(Workspace.init(tmp_path), engine=engine)) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        for c in client.chat.completions.create(model="tiny", stream=True, max_tokens=200,
                                                messages=[{"role": "user", "content": "联系方式"}]):
            if c.choices and c.choices[0].delta.content:
                client_chunks.append(c.choices[0].delta.content)
    text = "".join(client_chunks)
    assert "139" not in text and "1234" not in text and "zhang@" not in text
    assert text.startswith("请联系张经理，电话") and text.endswith("谢谢。")
    assert len(client_chunks) > 3  # still streamed, not one final blob
