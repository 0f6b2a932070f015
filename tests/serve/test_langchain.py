"""LangChain's OpenAI chat model against a real `zaomo serve`: invoke, stream and an error."""

from __future__ import annotations

import pytest

from zaomo.serve.app import create_app
from zaomo.workspace import Workspace

langchain_openai = pytest.importorskip("langchain_openai")


def test_langchain_chat_openai(tmp_path, eos_engine, serve_app):
    ws = Workspace.init(tmp_path)
    with serve_app(create_app(ws, engine=eos_engine)) as srv:
        llm = langchain_openai.ChatOpenAI(base_url=srv.url + "/v1", api_key="unused", model="tiny", max_retries=0)
        eos_engine.reset_script()
        assert llm.invoke("你好").content == "好的"
        eos_engine.reset_script()
        assert "".join(c.content for c in llm.stream("你好")) == "好的"
        bad = langchain_openai.ChatOpenAI(base_url=srv.url + "/v1", api_key="unused", model="nope", max_retries=0)
        with pytest.raises(Exception, match="does not exist"):
            bad.invoke("hi")
