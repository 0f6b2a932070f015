"""Shared fixtures: a tiny tokenizer and model built in the test (no download), a demo workspace,
and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

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


class ZaomoServe:
    """`zaomo serve` as a user runs it: the CLI in its own process on a free loopback port."""

    def __init__(self, workspace: Path, model: Path | str, *sets: str):
        import subprocess
        import sys

        self.port = free_port()
        exe = Path(sys.executable).parent / "zaomo"
        args = [str(exe), "serve", "-w", str(workspace), "--port", str(self.port), "--model", str(model)]
        for s in ("project.device=cpu", *sets):
            args += ["--set", s]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "HF_HUB_OFFLINE": "1"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ZaomoServe:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"zaomo serve exited: {self.proc.stdout.read()[-3000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("zaomo serve did not start in 120 s")
            time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.proc.kill()


@pytest.fixture
def serve_app():
    return Server


@pytest.fixture
def zaomo_serve():
    return ZaomoServe


def scripted_engine(tiny_model_dir):
    """The tiny model, biased so that it emits "好的" and then <|im_end|> (EOS)."""
    from zaomo.serve.engines import BuiltinEngine

    eng = BuiltinEngine(tiny_model_dir, device="cpu", name="tiny")
    tok = eng.tok
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    script = tok("好的", add_special_tokens=False)["input_ids"] + [eos]
    state = {"i": 0}
    model = eng.model

    def hook(module, args, output):
        # bias the last position towards the scripted token of this step
        logits = output.logits
        want = script[min(state["i"], len(script) - 1)]
        bias = torch.full_like(logits[:, -1, :], -1e4)
        bias[:, want] = 1e4
        logits[:, -1, :] = bias
        state["i"] += 1
        return output

    model.register_forward_hook(hook)
    eng.reset_script = lambda: state.update(i=0)
    eng.script_len = len(script) - 1
    return eng


@pytest.fixture
def eos_engine(tiny_model_dir):
    return scripted_engine(tiny_model_dir)


@pytest.fixture
def eos_engine_factory(tiny_model_dir):
    return lambda: scripted_engine(tiny_model_dir)


PG_URL = os.environ.get("ZAOMO_TEST_PG_URL")


def _wipe(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        for t in ("alembic_version", "runs", "api_keys", "audit", "feedback", "models", "prompts"):
            conn.execute(text(f"DROP TABLE IF EXISTS {t}"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The workspace database on SQLite, and on a real PostgreSQL when ZAOMO_TEST_PG_URL names one (.ci/run
    starts Debian's server and sets it); the PostgreSQL tables are dropped before and after each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'zaomo.db'}"
        return
    if not PG_URL:
        pytest.skip("no PostgreSQL: set ZAOMO_TEST_PG_URL=postgresql+psycopg://user:pw@host/db (.ci/run does)")
    _wipe(PG_URL)
    yield PG_URL
    _wipe(PG_URL)
