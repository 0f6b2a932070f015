"""The remote engine (any OpenAI-compatible endpoint) behind the gateway: here, a second zaomo gateway."""

from __future__ import annotations

import openai

from zaomo.serve.app import create_app
from zaomo.serve.engines import RemoteEngine
from zaomo.workspace import Workspace


def test_gateway_in_front_of_a_remote_endpoint(tmp_path, eos_engine, serve_app):
    upstream_ws = Workspace.init(tmp_path / "up")
    front_ws = Workspace.init(tmp_path / "front")
    with serve_app(create_app(upstream_ws, engine=eos_engine)) as up:
        remote = RemoteEngine(up.url + "/v1", "tiny")
        with serve_app(create_app(front_ws, engine=remote)) as front:
            client = openai.OpenAI(base_url=front.url + "/v1", api_key="unused", max_retries=0)
            eos_engine.reset_script()
            chunks = list(client.chat.completions.create(model="tiny", stream=True, max_tokens=20,
                                                         messages=[{"role": "user", "content": "你好"}]))
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "好的"
            assert chunks[-1].choices[0].finish_reason == "stop"
            eos_engine.reset_script()
            r = client.chat.completions.create(model="tiny", max_tokens=20,
                                               messages=[{"role": "user", "content": "你好"}])
            assert r.choices[0].message.content == "好的"
            # real token counts, the upstream's (it reports them with stream_options.include_usage)
            assert r.usage.completion_tokens == eos_engine.script_len and r.usage.prompt_tokens > 2
            assert "estimated" not in (r.usage.model_extra or {})
            eos_engine.reset_script()
            c = client.completions.create(model="tiny", prompt="你好", max_tokens=20)  # forwarded to /completions
            assert c.choices[0].text == "好的" and c.usage.completion_tokens == eos_engine.script_len
