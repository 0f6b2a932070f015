"""Tool calling end to end with the official client: on the built-in engine (the template renders the tools, the
reply is parsed into tool_calls) and through a remote OpenAI-compatible upstream (passed through)."""

from __future__ import annotations

import json

import openai
import pytest
from conftest import tool_engine

from zaomo.serve.app import create_app
from zaomo.serve.engines import BuiltinEngine, RemoteEngine
from zaomo.serve.tools import parse_tool_calls
from zaomo.workspace import Workspace

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
ASK = [{"role": "user", "content": "北京天气怎么样？"}]
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call>'


def round_trip(client) -> None:
    """Ask, get a tool call, send its result back, get the final answer."""
    r = client.chat.completions.create(model="tiny", messages=ASK, tools=TOOLS)
    c = r.choices[0]
    assert c.finish_reason == "tool_calls" and c.message.content is None
    (tc,) = c.message.tool_calls
    assert tc.type == "function" and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "北京"} and tc.id
    history = ASK + [c.message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": tc.id, "content": '{"weather": "晴, 25度"}'}]
    final = client.chat.completions.create(model="tiny", messages=history, tools=TOOLS).choices[0]
    assert final.finish_reason == "stop" and final.message.content == "北京今天晴，25度。"
    assert not final.message.tool_calls

    chunks = list(client.chat.completions.create(model="tiny", messages=ASK, tools=TOOLS, stream=True))
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert not "".join(d.content or "" for d in deltas)  # the call is not streamed as text
    (streamed,) = [t for d in deltas for t in d.tool_calls or []]
    assert streamed.function.name == "get_weather" and json.loads(streamed.function.arguments) == {"city": "北京"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_round_trip_on_the_builtin_engine(tmp_path, tool_model_dir, serve_app):
    engine = tool_engine(tool_model_dir, {"<tool_response>": "北京今天晴，25度。", "": CALL})
    with serve_app(create_app(Workspace.init(tmp_path), engine=engine)) as srv:
        round_trip(openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0))
    # the template saw the tools, the assistant's call (arguments as an object) and the tool's result
    assert '"name": "get_weather"' in engine.prompts[0] and "<tools>" in engine.prompts[0]
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}' in engine.prompts[1]
    assert '<tool_response>\n{"weather": "晴, 25度"}\n</tool_response>' in engine.prompts[1]


def test_tool_round_trip_through_a_remote_upstream(tmp_path, scripted_upstream, serve_app):
    call = {"name": "get_weather", "arguments": '{"city": "北京"}'}
    up = scripted_upstream([{"tool_calls": [call]}, {"content": ["北京今天晴，", "25度。"]}, {"tool_calls": [call]}])
    with serve_app(up.app) as u, serve_app(create_app(Workspace.init(tmp_path),
                                                      engine=RemoteEngine(u.url + "/v1", "tiny"))) as front:
        round_trip(openai.OpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0))
    assert up.bodies[0]["tools"] == TOOLS  # passed through unchanged
    assert up.bodies[1]["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert up.bodies[1]["messages"][2] == {"role": "tool", "tool_call_id": "call_0", "content": '{"weather": "晴, 25度"}'}


def test_template_without_tools_is_a_400_naming_tools(tmp_path, tiny_model_dir, serve_app):
    engine = BuiltinEngine(tiny_model_dir, device="cpu", name="tiny")  # plain ChatML: no tools
    with serve_app(create_app(Workspace.init(tmp_path), engine=engine)) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="tiny", messages=ASK, tools=TOOLS)
    assert e.value.body["param"] == "tools" and "template" in e.value.body["message"]


@pytest.mark.parametrize("text,content,names", [
    (CALL, None, ["get_weather"]),
    ("好的。" + CALL + CALL.replace("北京", "上海"), "好的。", ["get_weather", "get_weather"]),
    ('{"name": "get_weather", "parameters": {"city": "北京"}}', None, ["get_weather"]),
    ('{"answer": 42}', '{"answer": 42}', []),
    ("<tool_call>not json</tool_call>", "<tool_call>not json</tool_call>", []),
])
def test_parse_tool_calls(text, content, names):
    got, calls = parse_tool_calls(text)
    assert got == content and [c["function"]["name"] for c in calls] == names
    assert all(json.loads(c["function"]["arguments"])["city"] in ("北京", "上海") for c in calls)
