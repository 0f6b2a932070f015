"""`serve.engine: onnx`: a model exported with `zaomo export --format onnx` answers through the official `openai`
client exactly as the transformers model does (greedy), concurrent requests batched together included; the int8
graph serves too; a missing graph is refused with the export command."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from typer.testing import CliRunner

from zaomo.cli.main import app as cli
from zaomo.serve.app import create_app
from zaomo.serve.engines import BuiltinEngine, OnnxEngine
from zaomo.workspace import Workspace

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

PROMPTS = ["研发部的负责人是谁？", "Hello, who heads the R&D Department?", "你好", "抱歉，这个请求"]


@pytest.fixture(scope="module")
def onnx_dir(noisy_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "m"
    r = CliRunner().invoke(cli, ["export", str(noisy_model_dir), str(out), "--format", "onnx", "--int8"])
    assert r.exit_code == 0, r.output
    return out


def _answers(client: openai.OpenAI, model: str, concurrent: bool) -> list[tuple[str, str]]:
    def ask(q: str) -> tuple[str, str]:
        c = client.chat.completions.create(model=model, messages=[{"role": "user", "content": q}], max_tokens=16,
                                           temperature=0).choices[0]
        return c.message.content, c.finish_reason

    if not concurrent:
        return [ask(q) for q in PROMPTS]
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        return list(pool.map(ask, PROMPTS))


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def test_onnx_engine_answers_as_the_torch_model_does(tmp_path, noisy_model_dir, onnx_dir, serve_app):
    ws = Workspace.open(Workspace.init(tmp_path / "ws").root, overrides=["serve.guard=false"])
    torch_engine = BuiltinEngine(noisy_model_dir, device="cpu", name="m")
    with serve_app(create_app(ws, engine=torch_engine)) as srv:
        ref = _answers(_client(srv.url), "m", concurrent=False)
    assert len({a for a, _ in ref}) > 1  # the prompts lead to different answers: a mixed-up batch would show

    engine = OnnxEngine(onnx_dir, name="m", batch_wait_ms=50)
    with serve_app(create_app(ws, engine=engine)) as srv:
        client = _client(srv.url)
        assert _answers(client, "m", concurrent=False) == ref
        assert _answers(client, "m", concurrent=True) == ref  # left-padded rows in one ONNX batch
        assert engine.stats()["max_batch"] > 1
        streamed = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": PROMPTS[0]}], max_tokens=16, temperature=0,
            stream=True) if ch.choices)
        assert streamed == ref[0][0]


def test_zaomo_serve_with_engine_onnx_int8(tmp_path, onnx_dir, zaomo_serve):
    ws = Workspace.init(tmp_path / "ws").root
    with zaomo_serve(ws, onnx_dir, "serve.engine=onnx", "serve.onnx_int8=true", "serve.guard=false") as srv:
        client = _client(srv.url)
        assert [m.id for m in client.models.list().data] == [str(onnx_dir)]  # served under the name given
        r = client.chat.completions.create(model=str(onnx_dir), messages=[{"role": "user", "content": PROMPTS[1]}],
                                           max_tokens=8, temperature=0, logprobs=True, top_logprobs=2)
        c = r.choices[0]
        assert c.message.content and r.usage.completion_tokens == len(c.logprobs.content) <= 8
        assert all(len(t.top_logprobs) == 2 for t in c.logprobs.content)


def test_missing_graph_names_the_export_command(tmp_path, noisy_model_dir):
    with pytest.raises(FileNotFoundError, match="--format onnx --int8"):
        OnnxEngine(noisy_model_dir, int8=True)
