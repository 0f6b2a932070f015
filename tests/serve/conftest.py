"""Fixtures for the serving tests: a tiny model whose greedy text depends on the prompt, and a way to slow a
model down so that requests overlap."""

from __future__ import annotations

import time

import pytest
import torch
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

TEXTS = ["研发部的负责人是王建国。研发部位于总部大楼3楼。", "The head of the R&D Department is Wang Jianguo.",
         "你好！有什么可以帮你？", "Hello, how can I help you today?", "抱歉，这个请求我无法协助。"] * 20

def build_noisy_model(root, seed: int):
    """The tiny Llama with its matrices scaled up, so greedy text differs from prompt to prompt (a plain random
    init repeats one token whatever the prompt, which would let a mixed-up batch pass unnoticed)."""
    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe

    tok = train_bpe(iter(TEXTS), 400, root / "tok", min_frequency=1, model_max_length=256)
    model = build_model(ModelConfig(preset="tiny", seq_len=256), tok, seed=seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(6.0)
    return save_model(model, tok, root / "model")


@pytest.fixture(scope="session")
def noisy_model_dir(tmp_path_factory):
    return build_noisy_model(tmp_path_factory.mktemp("noisy"), seed=0)


@pytest.fixture
def slow_down():
    return _slow_down


def _slow_down(engine, seconds: float, no_eos: bool = False) -> None:
    """Make every forward take a while (so requests overlap) and, optionally, never end at EOS."""
    eos = sorted(engine.eos)

    def hook(module, args, output):
        time.sleep(seconds)
        if no_eos:
            output.logits[..., eos] = float("-inf")
        return output

    engine.model.register_forward_hook(hook)

@pytest.fixture(scope="session")
def noisy_model_factory(tmp_path_factory):
    return lambda seed: build_noisy_model(tmp_path_factory.mktemp(f"noisy{seed}"), seed)


class ScriptedUpstream:
    """A minimal OpenAI-compatible upstream on 127.0.0.1 for the remote engine: it streams the next scripted
    reply (text and/or tool calls, with or without usage) and records every request body it gets."""

    def __init__(self, replies: list[dict]):
        import json

        self.replies, self.bodies = list(replies), []
        app = FastAPI()

        def sse(body: dict, chat: bool):
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            base = {"id": "up-1", "created": 0, "model": body.get("model")}

            def choice(**kw):
                if chat:
                    return {"index": 0, "delta": kw.get("delta", {}), "logprobs": kw.get("logprobs"),
                            "finish_reason": kw.get("finish")}
                return {"index": 0, "text": kw.get("delta", {}).get("content", ""), "finish_reason": kw.get("finish")}

            for piece in reply.get("content", []):
                lp = {"content": [{"token": piece, "logprob": -0.5, "bytes": list(piece.encode()),
                                   "top_logprobs": []}]} if body.get("logprobs") else None
                yield f"data: {json.dumps({**base, 'choices': [choice(delta={'content': piece}, logprobs=lp)]})}\n\n"
            for i, tc in enumerate(reply.get("tool_calls", [])):  # name first, then the arguments in two pieces
                args = tc["arguments"]
                parts = [{"index": i, "id": f"call_{i}", "type": "function",
                          "function": {"name": tc["name"], "arguments": ""}},
                         {"index": i, "function": {"arguments": args[: len(args) // 2]}},
                         {"index": i, "function": {"arguments": args[len(args) // 2:]}}]
                for p in parts:
                    yield f"data: {json.dumps({**base, 'choices': [choice(delta={'tool_calls': [p]})]})}\n\n"
            finish = reply.get("finish", "tool_calls" if reply.get("tool_calls") else "stop")
            yield f"data: {json.dumps({**base, 'choices': [choice(finish=finish)]})}\n\n"
            if reply.get("usage") and (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({**base, 'choices': [], 'usage': reply['usage']})}\n\n"
            yield "data: [DONE]\n\n"

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.bodies.append(body)
            return StreamingResponse(sse(body, True), media_type="text/event-stream")

        @app.post("/v1/completions")
        async def completions(request: Request):
            body = await request.json()
            self.bodies.append(body)
            return StreamingResponse(sse(body, False), media_type="text/event-stream")

        self.app = app


@pytest.fixture
def scripted_upstream():
    return ScriptedUpstream


# A Qwen-style template that renders tools, tool calls and tool results (as Qwen2.5's does, shortened)
TOOL_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n<tools>\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}</tools>\n"
    "<|im_end|>\n"
    "{%- elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{%- endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'system' and loop.first %}"
    "{%- elif m.role == 'assistant' and m.tool_calls %}<|im_start|>assistant\n"
    "{% for tc in m.tool_calls %}<tool_call>\n{\"name\": \"{{ tc.function.name }}\", \"arguments\": "
    "{{ tc.function.arguments | tojson }}}\n</tool_call>{% endfor %}<|im_end|>\n"
    "{%- elif m.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n"
    "{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tool_engine(model_dir, replies: dict[str, str]):
    """The tiny model with TOOL_TEMPLATE, forced to say replies[key] (then <|im_end|>) for the first key found in
    its rendered prompt ("" matches any): what a tool-trained model would say at that point of the conversation."""
    from zaomo.serve.engines import BuiltinEngine

    engine = BuiltinEngine(model_dir, device="cpu", name="tiny")
    tok = engine.tok
    tok.chat_template = TOOL_TEMPLATE
    end = tok.convert_tokens_to_ids("<|im_end|>")
    state = {"script": [end], "i": 0}
    engine.prompts = []

    def hook(module, args, kwargs, output):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:  # a prefill: pick the script for this prompt
            prompt = tok.decode(ids[0], skip_special_tokens=False)
            engine.prompts.append(prompt)
            key = next(k for k in replies if k in prompt)
            state.update(script=tok(replies[key], add_special_tokens=False)["input_ids"] + [end], i=0)
        bias = torch.full_like(output.logits[:, -1, :], -1e4)
        bias[:, state["script"][min(state["i"], len(state["script"]) - 1)]] = 1e4
        output.logits[:, -1, :] = bias
        state["i"] += 1
        return output

    engine.model.register_forward_hook(hook, with_kwargs=True)
    return engine


@pytest.fixture(scope="session")
def tool_model_dir(tmp_path_factory):
    """The tiny Llama with room for tool definitions and results (1024 positions: byte-level BPE over CJK and
    JSON is long)."""
    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe

    root = tmp_path_factory.mktemp("tools")
    tok = train_bpe(iter(TEXTS), 400, root / "tok", min_frequency=1, model_max_length=1024)
    return save_model(build_model(ModelConfig(preset="tiny", seq_len=1024), tok, seed=0), tok, root / "model")
