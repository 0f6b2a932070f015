"""The vLLM engine: an existing vLLM server (`serve.remote_url`), or one the gateway starts and supervises
(`vllm serve MODEL`), spoken to over its OpenAI-compatible API. vLLM is the `vllm` extra (GPU)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import httpx

from ..workspace import Workspace
from .engines import RemoteEngine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_tokenizer(model_dir: str | None):
    """The model's tokenizer when it is on this machine (usage counts when an upstream reports none)."""
    if not model_dir:
        return None
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError):
        return None


class VLLMEngine(RemoteEngine):
    def __init__(self, base_url: str, model: str, process: subprocess.Popen | None = None, tokenizer=None):
        super().__init__(base_url, model, tokenizer=tokenizer)
        self.process = process
        self.lora_names: list[str] = []

    @classmethod
    def from_config(cls, ws: Workspace, command: list[str] | None = None, timeout: float = 600) -> VLLMEngine:
        cfg = ws.cfg.serve
        if cfg.remote_url:
            return cls(cfg.remote_url, cfg.model or "default")
        model_dir = str(ws.resolve_model(cfg.model))
        exe = (command or [shutil.which("vllm") or ""])[0]
        if not exe:
            raise ImportError("serve.engine=vllm needs vLLM: pip install 'zaomo[vllm]' (GPU), "
                              "or set serve.remote_url to a running vLLM server")
        from .models import lora_entries

        port = free_port()
        name = cfg.model or ws.cfg.project.name
        argv = (command or [exe, "serve"]) + [model_dir, "--host", "127.0.0.1", "--port", str(port),
                                              "--served-model-name", name]
        loras = lora_entries(ws)  # serve.models adapters: vLLM serves each under its name, batched with the base
        if loras:
            argv += ["--enable-lora", "--lora-modules", *(f"{n}={path}" for n, path, _ in loras)]
        # its output goes to a file: a pipe no one reads fills up and blocks the child
        log_path = ws.root / "logs" / "vllm.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = log_path.read_bytes()[-2000:].decode(errors="replace")
                raise RuntimeError(f"vLLM exited with code {proc.returncode} while starting (log: {log_path}): "
                                   f"{err}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    engine = cls(f"{url}/v1", name, proc, local_tokenizer(model_dir))
                    engine.lora_names = [n for n, _, _ in loras]
                    return engine
            except httpx.HTTPError:
                pass
            time.sleep(1)
        proc.terminate()
        raise TimeoutError(f"vLLM did not become healthy on {url} within {timeout:.0f} s; see {log_path}")

    def view(self, name: str) -> RemoteEngine:
        """One of its LoRA modules as a model of its own (same server, same tokenizer)."""
        engine = RemoteEngine(self.path, name, tokenizer=self.tok)
        engine.client = self.client
        return engine

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
