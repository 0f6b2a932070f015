"""Engines behind one interface: `stream(messages, params)` yields text deltas and ends with a `Done`.

BuiltinEngine runs a transformers model in this process with a KV cache, one request at a time under a
lock (honest and simple; concurrent requests queue). RemoteEngine forwards to any OpenAI-compatible
endpoint (vLLM, a provider), so the gateway's guard, knowledge base and audit work for every model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class GenParams:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class Done:
    finish_reason: str  # stop | length
    prompt_tokens: int
    completion_tokens: int


class BuiltinEngine:
    def __init__(self, model_dir: str | Path, device: str = "auto", name: str | None = None):
        self.lock = threading.Lock()
        self.name = name or Path(model_dir).name
        self.load(model_dir, device)

    def load(self, model_dir: str | Path, device: str = "auto") -> None:
        from ..model.load import eos_ids, load_model

        model, tok = load_model(model_dir, device=device)
        with self.lock:  # swap between requests: in-flight generations finish on the old model
            self.model, self.tok, self.path = model, tok, str(model_dir)
            self.eos = set(eos_ids(tok))
            self.context = getattr(model.config, "max_position_embeddings", 2048)

    def count_prompt(self, messages: list[dict]) -> int:
        return len(self.tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True))

    def stream(self, messages: list[dict], p: GenParams) -> Iterator[str | Done]:
        ids = self.tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return self._stream_ids(list(ids), p)

    def stream_prompt(self, prompt: str, p: GenParams) -> Iterator[str | Done]:
        """Plain text continuation (for /v1/completions): no chat template."""
        return self._stream_ids(self.tok(prompt, add_special_tokens=False)["input_ids"], p)

    def _stream_ids(self, ids: list[int], p: GenParams) -> Iterator[str | Done]:
        import torch

        with self.lock:
            model, tok = self.model, self.tok
            if len(ids) >= self.context:
                raise ValueError(f"prompt is {len(ids)} tokens; this model's context is {self.context}")
            budget = min(p.max_tokens, self.context - len(ids))
            gen = torch.Generator().manual_seed(p.seed) if p.seed is not None else None
            x = torch.tensor([ids], device=model.device)
            past = None
            out_ids: list[int] = []
            emitted = ""
            finish = "length"
            with torch.no_grad():
                for _ in range(budget):
                    o = model(input_ids=x, past_key_values=past, use_cache=True)
                    past = o.past_key_values
                    logits = o.logits[0, -1].float()
                    nxt = _sample(logits, p.temperature, p.top_p, gen)
                    if nxt in self.eos:
                        finish = "stop"
                        break
                    out_ids.append(nxt)
                    text = tok.decode(out_ids, skip_special_tokens=True)
                    if "\ufffd" in text[len(emitted):]:  # an incomplete UTF-8 sequence: wait for more bytes
                        x = torch.tensor([[nxt]], device=model.device)
                        continue
                    cut = _stop_at(text, p.stop)
                    if cut is not None:
                        if cut > len(emitted):
                            yield text[len(emitted):cut]
                        finish = "stop"
                        emitted = text[:cut]
                        break
                    if len(text) > len(emitted):
                        yield text[len(emitted):]
                        emitted = text
                    x = torch.tensor([[nxt]], device=model.device)
            yield Done(finish, len(ids), len(out_ids))


def _sample(logits, temperature: float, top_p: float, gen) -> int:
    import torch

    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, -1)
    if top_p < 1.0:
        sp, si = torch.sort(probs, descending=True)
        keep = torch.cumsum(sp, -1) - sp < top_p
        probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
        probs /= probs.sum()
    return int(torch.multinomial(probs, 1, generator=gen))


def _stop_at(text: str, stops: list[str]) -> int | None:
    cuts = [text.find(s) for s in stops if s and s in text]
    return min(cuts) if cuts else None


class RemoteEngine:
    """Any OpenAI-compatible endpoint, streamed through."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None):
        import httpx

        self.name, self.path = model, base_url
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=300,
                                   headers={"Authorization": f"Bearer {api_key}"} if api_key else {})

    def count_prompt(self, messages: list[dict]) -> int:
        return sum(len(m.get("content", "")) for m in messages) // 2

    def stream(self, messages: list[dict], p: GenParams) -> Iterator[str | Done]:
        body: dict[str, Any] = {"model": self.name, "messages": messages, "stream": True, "max_tokens": p.max_tokens,
                                "temperature": p.temperature, "top_p": p.top_p}
        if p.stop:
            body["stop"] = p.stop
        if p.seed is not None:
            body["seed"] = p.seed
        finish, n = "stop", 0
        with self.client.stream("POST", "/chat/completions", json=body) as r:
            if r.status_code != 200:
                raise RuntimeError(f"remote engine {self.path} answered {r.status_code}: {r.read()[:300]!r}")
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                ch = json.loads(data)["choices"][0]
                if ch.get("delta", {}).get("content"):
                    n += 1
                    yield ch["delta"]["content"]
                finish = ch.get("finish_reason") or finish
        yield Done(finish, self.count_prompt(messages), n)
