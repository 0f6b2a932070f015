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

__all__ = ["BuiltinEngine", "Done", "GenParams", "OnnxEngine", "RemoteEngine"]


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
        from ..model.chat import stop_ids
        from ..model.load import load_model
        from ..model.prefix import split_prefix

        model, tok = load_model(model_dir, device=device, dtype=self.dtype)
        eos = set(stop_ids(tok, model))
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

    def attach_adapter(self, name: str, adapter_dir: str | Path) -> AdapterEngine:
        """Serve a LoRA adapter over this engine's weights as model `name`: loaded into the same model (peft
        multi-adapter), decoded by the same batcher, in batches of its own."""
        from peft import PeftModel

        with self._swap:
            cur = self.current
            if cur.peft is None:
                cur.peft = PeftModel.from_pretrained(cur.model, str(adapter_dir), adapter_name=name)
            else:
                cur.peft.load_adapter(str(adapter_dir), adapter_name=name)
            cur.peft.eval()
            loaded = Loaded(cur.model, cur.tok, cur.eos, cur.context, str(adapter_dir), cur.prefix, cur.prefix_len,
                            adapter=name, peft=cur.peft)
        return AdapterEngine(self, name, loaded)

    def count_prompt(self, messages: list[dict], tools: list[dict] | None = None) -> int:
        return len(self._chat_ids(self.tok, messages, tools))

    @staticmethod
    def _chat_ids(tok, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
        from ..model.chat import prompt_ids
        from .tools import for_template

        return prompt_ids(tok, for_template(messages), tools)

    def stream(self, messages: list[dict], p: GenParams) -> Iterator[str | Done]:
        loaded = self.current
        return self._stream_ids(loaded, self._chat_ids(loaded.tok, messages), p)

    def stream_prompt(self, prompt: str, p: GenParams) -> Iterator[str | Done]:
        """Plain text continuation (for /v1/completions): no chat template."""
        loaded = self.current
        return self._stream_ids(loaded, loaded.tok(prompt, add_special_tokens=False)["input_ids"], p)

    def _stream_ids(self, loaded: Loaded, ids: list[int], p: GenParams) -> Iterator[str | Done]:
        return TokenStream(self.batcher, Request(list(ids), p, loaded))

    def _json_params(self, loaded: Loaded, p: GenParams) -> GenParams:
        """`p` with a JSON-schema constraint, compiled here in the request's thread so the batcher only steps it;
        the tokenizer's grammar tables are built once per loaded version."""
        from dataclasses import replace

        from .json_mode import Grammars, JsonConstraint

        with self._swap:
            if loaded.grammars is None:
                loaded.grammars = Grammars(loaded.tok, loaded.model.config.vocab_size, loaded.eos)
        grammars = loaded.grammars
        compiled = grammars.compile(p.json_schema or {})
        return replace(p, constraint=lambda: JsonConstraint(grammars, compiled, loaded.tok))

    def streams(self, messages: list[dict], p: GenParams, n: int = 1, prompt: str | None = None) -> list[TokenStream]:
        """`n` choices for one request (a chat, or a plain `prompt`), submitted to the batcher together so they
        are decoded as one batch; with a seed, choice i samples with seed + i."""
        loaded = self.current
        ids = self._chat_ids(loaded.tok, messages, p.tools) if prompt is None else \
            loaded.tok(prompt, add_special_tokens=False)["input_ids"]
        if p.json_schema is not None:
            p = self._json_params(loaded, p)
        out = [TokenStream(self.batcher, Request(list(ids), choice_params(p, i), loaded)) for i in range(n)]
        TokenStream.start_all(out)
        return out


def choice_params(p: GenParams, i: int) -> GenParams:
    """The parameters of choice `i`: its own seed, so that sampled choices differ yet are reproducible."""
    from dataclasses import replace

    return p if i == 0 or p.seed is None else replace(p, seed=p.seed + i)


class AdapterEngine(BuiltinEngine):
    """A LoRA adapter served over a BuiltinEngine's weights: its own name and version, the base's batcher. Not
    hot-reloaded on its own (reloading the base drops its adapters: restart the server)."""

    load = None  # type: ignore[assignment]

    def __init__(self, base: BuiltinEngine, name: str, loaded: Loaded):
        self.base, self.name, self.dtype = base, name, base.dtype
        self._swap = threading.Lock()
        self.batcher = base.batcher
        self.current = loaded

    def stats(self) -> dict[str, int]:
        return {}  # the base's batcher reports for both


class OnnxEngine(BuiltinEngine):
    """A model exported by `zaomo export --format onnx`, run by ONNX Runtime on the CPU (`model.onnx`, or
    `model.int8.onnx` with `int8`) and decoded by the same batcher as the built-in engine."""

    def __init__(self, model_dir: str | Path, name: str | None = None, max_batch_size: int = 8,
                 batch_wait_ms: float = 5.0, int8: bool = False):
        self.int8 = int8
        super().__init__(model_dir, device="cpu", name=name, max_batch_size=max_batch_size,
                         batch_wait_ms=batch_wait_ms, dtype="float32")

    def load(self, model_dir: str | Path, device: str = "cpu") -> None:
        from transformers import AutoTokenizer

        from ..model.chat import stop_ids
        from ..model.onnx_lm import OnnxTorchModel

        d = Path(model_dir)
        onnx_file = d / ("model.int8.onnx" if self.int8 else "model.onnx")
        if not onnx_file.exists():
            raise FileNotFoundError(f"serve.engine=onnx: {onnx_file} not found; write it with `zaomo export "
                                    f"<model> {d} --format onnx{' --int8' if self.int8 else ''}`")
        model = OnnxTorchModel(d, int8=self.int8)
        tok = AutoTokenizer.from_pretrained(d)
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        loaded = Loaded(model, tok, set(stop_ids(tok, model)),
                        getattr(model.config, "max_position_embeddings", 2048), str(d))
        with self._swap:
            self.current = loaded

    def attach_adapter(self, name: str, adapter_dir: str | Path) -> AdapterEngine:
        raise ValueError(f"serve.models: {name!r} is a LoRA adapter, and serve.engine=onnx runs one exported "
                         f"graph; merge it (`zaomo export {adapter_dir} <dir> --format onnx`) and serve that")


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
        TokenStream.start_all([self])

    @staticmethod
    def start_all(streams: list[TokenStream]) -> None:
        """Check the prompts fit, then submit the requests in one go."""
        for s in streams:
            ctx = s.req.loaded.context
            if len(s.req.ids) >= ctx:
                for x in streams:
                    x.state = "over"
                raise ValueError(f"prompt is {len(s.req.ids)} tokens; this model's context is {ctx}")
        for s in streams:
            s.state = "running"
        if streams:
            streams[0].batcher.submit_many([s.req for s in streams])

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

        if self._wake is None:  # safe after submission: the queue is checked before every wait
            loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
            self.req.notify = lambda: loop.call_soon_threadsafe(self._wake.set)
        if self.state == "new":
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
    """Any OpenAI-compatible endpoint, streamed through. What the gateway does not itself need (tools,
    response_format, penalties, logprobs, ...) is passed on unchanged in `GenParams.extra`; token counts are the
    upstream's (`stream_options.include_usage`), else this engine's tokenizer's, else an estimate marked as such."""

    remote = True  # content parts it cannot read itself (images) are the upstream's business

    def __init__(self, base_url: str, model: str, api_key: str | None = None, tokenizer: Any = None):
        import httpx

        self.name, self.path, self.tok = model, base_url, tokenizer
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=300,
                                   headers={"Authorization": f"Bearer {api_key}"} if api_key else {})

    def count(self, messages: list[dict] | None = None, text: str = "") -> tuple[int, bool]:
        """(tokens, estimated): the tokenizer's count when there is one, else characters / 2."""
        from .params import text_of

        if self.tok is not None:
            try:
                if messages is None:
                    return len(self.tok(text, add_special_tokens=False)["input_ids"]), False
                from ..model.chat import prompt_ids

                return len(prompt_ids(self.tok, messages)), False
            except Exception:  # noqa: BLE001 — no chat template (or one that refuses these roles): estimate
                pass
        chars = len(text) if messages is None else sum(len(text_of(m.get("content"))) for m in messages)
        return chars // 2, True

    def count_prompt(self, messages: list[dict]) -> int:
        return self.count(messages)[0]

    def stream(self, messages: list[dict], p: GenParams) -> Iterator[str | Done]:
        return self._run("/chat/completions", {"messages": messages}, p)

    def stream_prompt(self, prompt: str, p: GenParams) -> Iterator[str | Done]:
        return self._run("/completions", {"prompt": prompt}, p)

    def streams(self, messages: list[dict], p: GenParams, n: int = 1, prompt: str | None = None) -> list[Iterator]:
        """`n` choices as `n` upstream requests (choice i with seed + i when a seed is given)."""
        ps = [choice_params(p, i) for i in range(n)]
        return [self.stream_prompt(prompt, q) if prompt is not None else self.stream(messages, q) for q in ps]

    def _body(self, p: GenParams, fields: dict) -> dict:
        body: dict[str, Any] = {**p.extra, **fields, "model": self.name, "stream": True,
                                "stream_options": {"include_usage": True}, "max_tokens": p.max_tokens,
                                "temperature": p.temperature, "top_p": p.top_p}
        if p.stop:
            body["stop"] = p.stop
        if p.seed is not None:
            body["seed"] = p.seed
        return body

    def _run(self, route: str, fields: dict, p: GenParams) -> Iterator[str | Done]:
        finish, n, usage = "stop", 0, None
        logprobs: list[dict] | None = None
        calls: dict[int, dict] = {}
        with self.client.stream("POST", route, json=self._body(p, fields)) as r:
            if r.status_code != 200:
                raise RuntimeError(f"remote engine {self.path} answered {r.status_code}: {r.read()[:300]!r}")
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                usage = chunk.get("usage") or usage
                for ch in chunk.get("choices") or []:
                    delta = ch.get("delta") or {}
                    text = delta.get("content") if "delta" in ch else ch.get("text")
                    if text:
                        n += 1
                        yield text
                    for tc in delta.get("tool_calls") or []:
                        _merge_tool_call(calls, tc)
                    lp = ch.get("logprobs")
                    if lp:
                        logprobs = (logprobs or []) + _logprob_entries(lp)
                    finish = ch.get("finish_reason") or finish
        if usage and usage.get("prompt_tokens") is not None:
            pt, ct, est = int(usage["prompt_tokens"]), int(usage.get("completion_tokens") or 0), False
        else:
            pt, est = self.count(fields.get("messages"), fields.get("prompt", ""))
            ct = n  # one content delta per token is what OpenAI-compatible servers send
        tool_calls = [calls[i] for i in sorted(calls)] or None
        yield Done(finish, pt, ct, logprobs, tool_calls, est)


def _merge_tool_call(calls: dict[int, dict], tc: dict) -> None:
    """Streamed tool-call pieces, joined: the id, type and name arrive once, the arguments in fragments."""
    c = calls.setdefault(tc.get("index", len(calls)), {"id": None, "type": "function",
                                                        "function": {"name": "", "arguments": ""}})
    c["id"] = tc.get("id") or c["id"]
    c["type"] = tc.get("type") or c["type"]
    fn = tc.get("function") or {}
    c["function"]["name"] += fn.get("name") or ""
    c["function"]["arguments"] += fn.get("arguments") or ""


def _logprob_entries(lp: dict) -> list[dict]:
    """A chunk's logprobs as chat entries, from the chat shape ({content: [...]}) or the completions one
    ({tokens, token_logprobs, top_logprobs})."""
    if isinstance(lp.get("content"), list):
        return lp["content"]
    tops = lp.get("top_logprobs") or [None] * len(lp.get("tokens") or [])
    return [{"token": t, "logprob": v, "bytes": list(t.encode("utf-8")),
             "top_logprobs": [{"token": k, "logprob": x, "bytes": list(k.encode("utf-8"))}
                              for k, x in (top or {}).items()]}
            for t, v, top in zip(lp.get("tokens") or [], lp.get("token_logprobs") or [], tops, strict=False)]
