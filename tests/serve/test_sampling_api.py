"""The sampling side of the API on the built-in engine — n decoded as one batch, stop, penalties, logprobs that
match the model's own forward pass, streamed completions with usage — and parameters an engine cannot honour
refused by name; on the remote engine everything passes through and usage is the upstream's."""

from __future__ import annotations

import openai
import pytest
import torch

from zaomo.model.chat import prompt_ids
from zaomo.serve.app import create_app
from zaomo.serve.batching import GenParams, Request, shape_logits
from zaomo.serve.engines import BuiltinEngine, RemoteEngine
from zaomo.workspace import Workspace

MSGS = [{"role": "user", "content": "研发部的负责人是谁？"}]


@pytest.fixture
def noisy(tmp_path, noisy_model_dir, serve_app):
    engine = BuiltinEngine(noisy_model_dir, device="cpu", name="tiny", batch_wait_ms=50)
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.guard=false"])
    with serve_app(create_app(ws, engine=engine)) as srv:
        yield engine, openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)


def test_n_choices_are_one_batch_with_a_seed_each(noisy):
    engine, client = noisy
    r = client.chat.completions.create(model="tiny", messages=MSGS, n=3, temperature=1.0, seed=5, max_tokens=12)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert engine.stats()["max_batch"] == 3  # decoded together, not one after another
    alone = [client.chat.completions.create(model="tiny", messages=MSGS, temperature=1.0, seed=s, max_tokens=12)
             for s in (5, 6, 7)]
    assert [c.message.content for c in r.choices] == [a.choices[0].message.content for a in alone]
    assert [c.finish_reason for c in r.choices] == [a.choices[0].finish_reason for a in alone]
    assert len({c.message.content for c in r.choices}) > 1
    assert r.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone)
    assert r.usage.prompt_tokens == alone[0].usage.prompt_tokens


def test_stop_cuts_the_answer(noisy):
    _, client = noisy
    full = client.chat.completions.create(model="tiny", messages=MSGS, max_tokens=16).choices[0].message.content
    stop = next(c for c in full[2:] if c != "\ufffd")  # a cut inside an unfinished UTF-8 sequence cannot match
    cut = client.chat.completions.create(model="tiny", messages=MSGS, max_tokens=16, stop=[stop]).choices[0]
    assert cut.message.content == full[: full.index(stop)] and cut.finish_reason == "stop"


def test_penalties_shape_the_logits_as_openai_defines_them():
    r = Request([1], GenParams(presence_penalty=1.0, frequency_penalty=0.5, logit_bias={7: 3.0}), None)
    r.out_ids = [3, 3, 5]
    out = shape_logits(torch.zeros(10), r)
    assert out.tolist() == [0, 0, 0, -2.0, 0, -1.5, 0, 3.0, 0, 0]


def test_penalties_change_a_repetitive_answer(tmp_path, tiny_model_dir, serve_app):
    """A random tiny model repeats one token; a frequency penalty makes it move on."""
    engine = BuiltinEngine(tiny_model_dir, device="cpu", name="tiny")
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.guard=false"])
    with serve_app(create_app(ws, engine=engine)) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        plain = client.completions.create(model="tiny", prompt="研发部", max_tokens=12, logprobs=0)
        pen = client.completions.create(model="tiny", prompt="研发部", max_tokens=12, logprobs=0,
                                        frequency_penalty=2.0, presence_penalty=2.0)
    most = max(plain.choices[0].logprobs.tokens.count(t) for t in plain.choices[0].logprobs.tokens)
    assert most >= 6  # the random model's repetition
    assert len(set(pen.choices[0].logprobs.tokens)) > len(set(plain.choices[0].logprobs.tokens))


def own_logprobs(engine, ids: list[int], entries) -> None:
    """Greedy decoding again, one full forward per token (no cache, no batch): each entry's token is the argmax
    and its logprob what the model itself gives, within 1e-4; so are the top alternatives."""
    ids = list(ids)
    with torch.no_grad():
        for e in entries:
            lp = torch.log_softmax(engine.model(torch.tensor([ids])).logits[0, -1].float(), -1)
            t = int(lp.argmax())
            assert engine.tok.decode([t]) == e["token"]
            assert abs(float(lp[t]) - e["logprob"]) < 1e-4
            top = torch.topk(lp, len(e["top_logprobs"]))
            assert [abs(float(v) - a["logprob"]) < 1e-4 for v, a in zip(top.values, e["top_logprobs"])] \
                == [True] * len(e["top_logprobs"])
            ids.append(t)


def test_logprobs_match_the_models_own_forward(noisy):
    engine, client = noisy
    r = client.chat.completions.create(model="tiny", messages=MSGS, max_tokens=8, logprobs=True, top_logprobs=3)
    entries = [e.model_dump() for e in r.choices[0].logprobs.content]
    assert len(entries) == r.usage.completion_tokens and all(len(e["top_logprobs"]) == 3 for e in entries)
    assert "".join(e["token"] for e in entries) == r.choices[0].message.content
    own_logprobs(engine, prompt_ids(engine.tok, MSGS), entries)

    c = client.completions.create(model="tiny", prompt="研发部", max_tokens=6, logprobs=2)
    lp = c.choices[0].logprobs
    legacy = [{"token": t, "logprob": v, "top_logprobs": [{"logprob": x} for x in top.values()]}
              for t, v, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs)]
    own_logprobs(engine, engine.tok("研发部", add_special_tokens=False)["input_ids"], legacy)
    assert lp.text_offset[0] == 0 and "".join(lp.tokens) == c.choices[0].text

    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=MSGS, logprobs=True, top_logprobs=21)
    assert e.value.body["param"] == "top_logprobs"


def test_streamed_completions_and_usage_chunk(noisy):
    _, client = noisy
    whole = client.completions.create(model="tiny", prompt="研发部", max_tokens=10)
    chunks = list(client.completions.create(model="tiny", prompt="研发部", max_tokens=10, stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens == 10
    chat = list(client.chat.completions.create(model="tiny", messages=MSGS, max_tokens=5, stream=True, n=2,
                                               stream_options={"include_usage": True}))
    assert chat[-1].choices == [] and chat[-1].usage.completion_tokens == 10
    assert sorted({c.choices[0].index for c in chat if c.choices}) == [0, 1]


@pytest.mark.parametrize("param,value", [("functions", [{"name": "f", "parameters": {}}]), ("audio", {"voice": "x"}),
                                         ("prediction", {"type": "content", "content": "x"})])
def test_unsupported_parameters_are_refused_by_name(noisy, param, value):
    _, client = noisy
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=MSGS, extra_body={param: value})
    assert e.value.body["param"] == param and param in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="tiny", prompt="x", echo=True)
    assert e.value.body["param"] == "echo"


def test_remote_passes_parameters_through_and_reports_upstream_usage(tmp_path, scripted_upstream, serve_app):
    up = scripted_upstream([{"content": ["你", "好"], "usage": {"prompt_tokens": 17, "completion_tokens": 2,
                                                               "total_tokens": 19}},
                            {"content": ["你", "好"]}])
    ws = Workspace.init(tmp_path)
    with serve_app(up.app) as u, serve_app(create_app(ws, engine=RemoteEngine(u.url + "/v1", "up"))) as front:
        client = openai.OpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0)
        r = client.chat.completions.create(model="up", messages=MSGS, frequency_penalty=0.5, logit_bias={"5": 2},
                                           logprobs=True, top_logprobs=2, extra_body={"repetition_penalty": 1.1})
        assert r.choices[0].message.content == "你好"
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (17, 2)
        assert [e.logprob for e in r.choices[0].logprobs.content] == [-0.5, -0.5]
        sent = up.bodies[0]
        assert (sent["frequency_penalty"], sent["logit_bias"], sent["top_logprobs"], sent["repetition_penalty"]) \
            == (0.5, {"5": 2}, 2, 1.1)
        # an upstream that reports no usage, and no tokenizer here: an estimate, marked as one
        r = client.chat.completions.create(model="up", messages=MSGS)
        assert r.usage.model_extra.get("estimated") is True and r.usage.completion_tokens == 2
