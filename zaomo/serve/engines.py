"""Engines behind one interface: `stream(messages, params)` yields text deltas and ends with a `Done`.

BuiltinEngine runs a transformers model in this process with a KV cache; concurrent requests are decoded
together by one worker thread (continuous batching, `batching.py`). RemoteEngine forwards to any
OpenAI-compatible endpoint (vLLM, a provider), so the gateway's guard, knowledge base and audit work for
every model.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .batching import Batcher, Done, GenParams, Loaded, Request

__all__ = ["BuiltinEngine", "Done", "GenParams", "RemoteEngine"]


class BuiltinEngine:
    """A transformers model in this process; concurrent requests share batched decode steps (`Batcher`)."""

    remote = False

    def __init__(self, model_dir: str | Path, device: str = "auto", name: str | None = None,
                 max_batch_size: int = 8, batch_wait_ms: float = 5.0, dtype: str = "auto"):
        self._swap = threading.Lock()
        self.dtype = dtype
        self.name = name or Path(model_dir).name
        self.batcher = Batcher(max_batch_size, batch_wait_ms / 1000)
        self.load(model_dir, device)

    def load(self, model_dir: str | Path, device: str = "auto") -> None:
        """Load a version and make it current; requests already submitted finish on the one they started with."""
        from ..model.load import eos_ids, load_model
        from ..model.prefix import split_prefix

        model, tok = load_model(model_dir, device=device, dtype=self.dtype)
        eos = set(eos_ids(tok, model))
        model, prefix, prefix_len = split_prefix(model)  # decode with the base; a prefix is its starting cache
        loaded = Loaded(model, tok, eos,
                        getattr(model.config, "max_position_embeddings", 2048) - prefix_len, str(model_dir),
                        prefix, prefix_len)
        with self._swap:
            self.current = loaded

    # the current version, for callers that tokenize or count (the gateway, the KB prompt builder, tests)
    model = property(lambda self: self.current.model)
    tok = property(lambda self: self.current.tok)
    eos = property(lambda self: self.current.eos)
    context = property(lambda self: self.current.context)
    path = property(lambda self: self.current.path)

    def stats(self) -> dict[str, int]:
        return self.batcher.stats()

    def count_prompt(self, messages: list[dict]) -> int:
        return len(self._chat_ids(self.tok, messages))

    @staticmethod
    def _chat_ids(tok, messages: list[dict]) -> list[int]:
        from ..model.chat import prompt_ids

        return prompt_ids(tok, messages)

    def stream(self, messages: list[dict], p: GenParams) -> Iterator[str | Done]:
        loaded = self.current
        return self._stream_ids(loaded, self._chat_ids(loaded.tok, messages), p)

    def stream_prompt(self, prompt: str, p: GenParams) -> Iterator[str | Done]:
        """Plain text continuation (for /v1/completions): no chat template."""
        loaded = self.current
        return self._stream_ids(loaded, loaded.tok(prompt, add_special_tokens=False)["input_ids"], p)

    def _stream_ids(self, loaded: Loaded, ids: list[int], p: GenParams) -> Iterator[str | Done]:
        return TokenStream(self.batcher, Request(list(ids), p, loaded))


class TokenStream:
    """Text deltas, then Done; iterate it plainly or with `async for`. The async form waits on the event loop
    (no thread per token) and joins the deltas that are already waiting into one, so a busy gateway sends fewer,
    larger chunks. `close()` may be called from any thread, even while another waits in `next()` (the gateway
    does so when a client hangs up): the waiter returns and the batch slot is freed."""

    _CLOSED = object()

    def __init__(self, batcher: Batcher, req: Request):
        self.batcher, self.req, self.state = batcher, req, "new"
        self._held: Any = None  # an item taken while joining deltas, handed out next time
        self._wake: Any = None

    def _start(self) -> None:
        ctx = self.req.loaded.context
        if len(self.req.ids) >= ctx:
            self.state = "over"
            raise ValueError(f"prompt is {len(self.req.ids)} tokens; this model's context is {ctx}")
        self.state = "running"
        self.batcher.submit(self.req)

    def _take(self, item: Any) -> str | Done:
        if item is self._CLOSED or isinstance(item, Exception | Done):
            self.state = "over"
            self.req.cancelled.set()
        if item is self._CLOSED:
            raise StopIteration
        if isinstance(item, Exception):
            raise item
        return item

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> str | Done:
        if self.state == "new":
            self._start()
        if self.state == "over":
            raise StopIteration
        return self._take(self.req.out.get())

    def __aiter__(self) -> TokenStream:
        return self

    async def __anext__(self) -> str | Done:
        import asyncio

        if self.state == "new":
            loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
            self.req.notify = lambda: loop.call_soon_threadsafe(self._wake.set)
            self._start()
        if self.state == "over":
            raise StopAsyncIteration
        item, self._held = self._held, None
        while item is None:
            try:
                item = self.req.out.get_nowait()
            except queue.Empty:
                self._wake.clear()
                if self.req.out.empty():  # a put between the check and clear() has set the event again
                    await self._wake.wait()
        while isinstance(item, str):  # join the deltas already waiting
            try:
                more = self.req.out.get_nowait()
            except queue.Empty:
                break
            if not isinstance(more, str):
                self._held = more
                break
            item += more
        try:
            return self._take(item)
        except StopIteration:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self.req.cancelled.set()
        self.req.out.put(self._CLOSED)

    def __del__(self) -> None:
        self.req.cancelled.set()


class RemoteEngine:
    """Any OpenAI-compatible endpoint, streamed through."""

    remote = True  # content parts it cannot read itself (images) are the upstream's business

    def __init__(self, base_url: str, model: str, api_key: str | None = None):
        import httpx

        self.name, self.path = model, base_url
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=300,
                                   headers={"Authorization": f"Bearer {api_key}"} if api_key else {})

    def count_prompt(self, messages: list[dict]) -> int:
        from .params import text_of

        return sum(len(text_of(m.get("content"))) for m in messages) // 2

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
