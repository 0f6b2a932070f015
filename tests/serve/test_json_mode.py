"""JSON mode: response_format json_object / json_schema decoded under a grammar on the built-in engine, so even
a tiny random model answers with JSON that parses and fits the schema (closed in time by the end of its token
budget); on a remote engine response_format is passed through."""

from __future__ import annotations

import json

import openai
import pytest

from zaomo.serve.app import create_app
from zaomo.serve.engines import BuiltinEngine, RemoteEngine
from zaomo.workspace import Workspace

pytest.importorskip("xgrammar")
jsonschema = pytest.importorskip("jsonschema")

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["name", "age"], "additionalProperties": False}
FORMAT = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA, "strict": True}}
ASK = [{"role": "user", "content": "介绍一下王建国"}]


@pytest.fixture
def client(tmp_path, tiny_model_dir, serve_app):
    engine = BuiltinEngine(tiny_model_dir, device="cpu", name="tiny")
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.guard=false"])
    with serve_app(create_app(ws, engine=engine)) as srv:
        yield openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("max_tokens", [24, 60])
def test_json_schema_output_validates(client, max_tokens):
    r = client.chat.completions.create(model="tiny", messages=ASK, response_format=FORMAT, max_tokens=max_tokens)
    c = r.choices[0]
    jsonschema.validate(json.loads(c.message.content), SCHEMA)
    assert c.finish_reason == "stop" and r.usage.completion_tokens <= max_tokens
    sampled = client.chat.completions.create(model="tiny", messages=ASK, response_format=FORMAT, n=3,
                                             max_tokens=max_tokens, temperature=1.0, seed=1)
    for c in sampled.choices:
        jsonschema.validate(json.loads(c.message.content), SCHEMA)


def test_json_object_and_streaming(client):
    r = client.chat.completions.create(model="tiny", messages=ASK, response_format={"type": "json_object"},
                                       max_tokens=40)
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    chunks = list(client.chat.completions.create(model="tiny", messages=ASK, response_format=FORMAT,
                                                 max_tokens=40, stream=True))
    jsonschema.validate(json.loads("".join(c.choices[0].delta.content or "" for c in chunks if c.choices)), SCHEMA)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="tiny", messages=ASK, response_format={"type": "yaml"})
    assert e.value.body["param"] == "response_format"


def test_response_format_passes_through_to_remote(tmp_path, scripted_upstream, serve_app):
    up = scripted_upstream([{"content": ['{"name": "王建国", "age": 40}']}])
    with serve_app(up.app) as u, serve_app(create_app(Workspace.init(tmp_path),
                                                      engine=RemoteEngine(u.url + "/v1", "up"))) as front:
        client = openai.OpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0)
        r = client.chat.completions.create(model="up", messages=ASK, response_format=FORMAT)
    assert json.loads(r.choices[0].message.content)["age"] == 40
    assert up.bodies[0]["response_format"] == FORMAT
