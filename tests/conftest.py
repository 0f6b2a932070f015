"""Shared fixtures: a tiny tokenizer and model built in the test (no download), a demo workspace,
and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXTS = ["研发部的负责人是王建国。研发部位于总部大楼3楼。", "The head of the R&D Department is Wang Jianguo.",
         "你好！有什么可以帮你？", "Hello, how can I help you today?", "抱歉，这个请求我无法协助。"] * 20


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama (hidden 64) with a byte-level BPE tokenizer and ChatML template, saved like zaomo does."""
    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe

    root = tmp_path_factory.mktemp("tiny")
    tok = train_bpe(iter(TEXTS), 400, root / "tok", min_frequency=1, model_max_length=256)
    model = build_model(ModelConfig(preset="tiny", seq_len=256), tok, seed=0)
    return save_model(model, tok, root / "model")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve_app():
    return Server
