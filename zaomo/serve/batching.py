"""Continuous batching for the built-in engine.

One worker thread owns the model. Requests wait in a queue; at every decode step the worker admits the waiting
ones (up to `max_batch_size` rows), prefills them together (left padding, attention mask, per-row position
ids), merges their KV cache into the running batch and decodes one token for every row. A row leaves the batch
as soon as it ends (EOS, a stop string, its token budget) or its consumer goes away, freeing its slot at the
next step. Each request gets its text through its own queue, so streaming and non-streaming callers are the
same to the worker. Why a thread and not asyncio: the forward pass is blocking torch code, and one owner of the
model means no lock around it. Rows are grouped by the model version (and LoRA adapter) they were submitted
against, so a hot reload lets in-flight requests finish on the old weights while new ones start on the new, and
adapters over one base share its weights, each batch decoding with its own adapter active.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GenParams:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    logprobs: bool = False
    top_logprobs: int = 0
    constraint: Any = None  # a factory of per-request logits masks (JSON mode): fn() -> object with mask/accept
    extra: dict[str, Any] = field(default_factory=dict)  # request fields a remote engine passes on unchanged
    tools: list[dict] | None = None  # built-in engine: tool definitions the chat template renders
    json_schema: dict | None = None  # built-in engine: response_format, decoded under this schema

    @property
    def shapes_logits(self) -> bool:
        """Whether the next token is not simply the argmax/sample of the model's logits."""
        return bool(self.presence_penalty or self.frequency_penalty or self.logit_bias or self.constraint)


@dataclass
class Done:
    finish_reason: str  # stop | length | tool_calls | content_filter
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[dict] | None = None  # per generated token: token, logprob, bytes, top_logprobs (OpenAI's shape)
    tool_calls: list[dict] | None = None  # a remote engine's tool calls, whole
    estimated: bool = False  # token counts are an estimate (a remote engine that reported none, no tokenizer)


@dataclass(eq=False)
class Loaded:
    """One loaded model version: what a request is pinned to from submission to its last token."""

    model: Any
    tok: Any
    eos: set[int]
    context: int
    path: str
    prefix: Any = None  # prefix tuning: fn(batch_size) -> a KV cache holding the learned virtual tokens
    prefix_len: int = 0
    grammars: Any = None  # JSON mode: compiled grammars for this tokenizer, made on first use
    adapter: str | None = None  # the LoRA adapter its rows decode with (None: the base alone)
    peft: Any = None  # the PeftModel holding the adapters injected into `model`, once there are any

    def forward(self, **kw):
        """The model's forward for a batch of this version's rows: with its adapter active, or with every
        adapter disabled for the base (rows of different adapters are never in one batch)."""
        if self.peft is None:
            return self.model(**kw)
        if self.adapter is None:
            with self.peft.disable_adapter():
                return self.model(**kw)
        self.peft.set_adapter(self.adapter)
        return self.model(**kw)


@dataclass(eq=False)
class Request:
    ids: list[int]
    params: GenParams
    loaded: Loaded
    out: queue.Queue = field(default_factory=queue.Queue)  # str deltas, then Done or an exception
    cancelled: threading.Event = field(default_factory=threading.Event)
    out_ids: list[int] = field(default_factory=list)
    emitted: str = ""
    last: int = 0  # the sampled token to feed at the next step
    gen: Any = None
    logprobs: list[dict] | None = None
    constraint: Any = None  # this request's logits mask state (JSON mode)
    notify: Any = None  # called after each put, from the worker thread (an asyncio consumer's wake-up)

    def put(self, item: Any) -> None:
        self.out.put(item)
        if self.notify is not None:
            try:
                self.notify()
            except RuntimeError:  # the consumer's event loop is closed (server shut down): nobody to wake
                self.cancelled.set()

    @property
    def budget(self) -> int:
        return min(self.params.max_tokens, self.loaded.context - len(self.ids))


class _Batch:
    """The running rows of one model version, with their shared (left-padded) KV cache."""

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.rows: list[Request] = []
        self.cache: Any = None
        self.mask: Any = None  # [B, T] 1 for real tokens, 0 for left padding

    def add(self, rows: list[Request], cache, mask) -> None:
        import torch

        if not self.rows:
            self.rows, self.cache, self.mask = list(rows), cache, mask
            return
        t_old, t_new = self.mask.shape[1], mask.shape[1]
        t = max(t_old, t_new)

        def pad(x, n: int, dim: int):
            if n == 0:
                return x
            shape = list(x.shape)
            shape[dim] = n
            return torch.cat([x.new_zeros(shape), x], dim=dim)

        for old, new in zip(self.cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([pad(old.keys, t - t_old, 2), pad(new.keys, t - t_new, 2)], 0)
            old.values = torch.cat([pad(old.values, t - t_old, 2), pad(new.values, t - t_new, 2)], 0)
        self.mask = torch.cat([pad(self.mask, t - t_old, 1), pad(mask, t - t_new, 1)], 0)
        self.rows += rows

    def keep(self, keep: list[int]) -> None:
        """Drop the other rows, then the leading columns that are padding in every remaining row."""
        import torch

        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache = self.mask = None
            return
        idx = torch.tensor(keep, device=self.mask.device)
        mask = self.mask.index_select(0, idx)
        start = int(mask.any(0).nonzero()[0])
        self.mask = mask[:, start:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, idx)[:, :, start:]
            layer.values = layer.values.index_select(0, idx)[:, :, start:]


def shape_logits(logits, r: Request):
    """A row's logits after penalties (OpenAI's: frequency × count + presence × seen, over the generated tokens),
    logit_bias and a constraint's mask (tokens it forbids get -inf)."""
    import torch

    p = r.params
    logits = logits.float().clone()
    if r.out_ids and (p.presence_penalty or p.frequency_penalty):
        counts = torch.bincount(torch.tensor(r.out_ids, device=logits.device), minlength=logits.shape[-1])
        counts = counts[: logits.shape[-1]].to(logits.dtype)
        logits -= p.frequency_penalty * counts + p.presence_penalty * (counts > 0).to(logits.dtype)
    for tid, b in p.logit_bias.items():
        if 0 <= tid < logits.shape[-1]:
            logits[tid] += b
    if r.constraint is not None:
        logits = r.constraint.mask(logits, r.budget - len(r.out_ids))
    return logits


def sample(logits, p: GenParams, gen) -> int:
    import torch

    if p.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float().cpu() / p.temperature, -1)
    if p.top_p < 1.0:
        sp, si = torch.sort(probs, descending=True)
        keep = torch.cumsum(sp, -1) - sp < p.top_p
        probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
        probs /= probs.sum()
    return int(torch.multinomial(probs, 1, generator=gen))


def token_logprob(tok, logits, token: int, top: int) -> dict:
    """OpenAI's logprob entry for `token` under the model's own distribution (the raw logits, before penalties,
    temperature or a constraint — what a forward pass gives), with the `top` likeliest alternatives."""
    import torch

    lp = torch.log_softmax(logits.float(), -1)

    def entry(t: int) -> dict:
        s = tok.decode([t], skip_special_tokens=False)
        return {"token": s, "logprob": float(lp[t]), "bytes": list(s.encode("utf-8"))}

    out = entry(token)
    alts = torch.topk(lp, top).indices.tolist() if top else []
    out["top_logprobs"] = [entry(t) for t in alts]
    return out


def stop_at(text: str, stops: list[str]) -> int | None:
    cuts = [text.find(s) for s in stops if s and s in text]
    return min(cuts) if cuts else None


class Batcher:
    """The worker: started on the first request, it exits after `idle_s` with nothing to do."""

    def __init__(self, max_batch_size: int = 8, max_wait_s: float = 0.005, idle_s: float = 2.0):
        self.max_batch_size, self.max_wait_s, self.idle_s = max_batch_size, max_wait_s, idle_s
        self._cv = threading.Condition()
        self._pending: deque[Request] = deque()
        self._batches: list[_Batch] = []
        self._worker: threading.Thread | None = None
        self._stats = {"max_batch": 0, "steps": 0, "finished": 0, "cancelled": 0}

    def submit(self, req: Request) -> None:
        self.submit_many([req])

    def submit_many(self, reqs: list[Request]) -> None:
        """Queue requests together, so they are admitted to the same step (the `n` choices of one request)."""
        with self._cv:
            self._pending.extend(reqs)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="zaomo-batcher", daemon=True)
                self._worker.start()
            self._cv.notify()

    def stats(self) -> dict[str, int]:
        """Counters for tests and /metrics: requests waiting and running, the largest batch decoded so far."""
        with self._cv:
            running = sum(len(b.rows) for b in self._batches)
            return {**self._stats, "running": running, "waiting": len(self._pending),
                    "active": running + len(self._pending)}

    # the worker
    def _run(self) -> None:
        import torch

        with torch.inference_mode():
            while True:
                new = self._admit()
                if new is None:
                    return
                for loaded in {id(r.loaded): r.loaded for r in new}.values():
                    self._guard(self._prefill, loaded, [r for r in new if r.loaded is loaded])
                for b in list(self._batches):
                    if b.rows:
                        self._guard(self._step, b)
                with self._cv:
                    self._batches = [b for b in self._batches if b.rows]

    def _admit(self) -> list[Request] | None:
        """The waiting requests that fit; blocks when nothing runs; None when it is time to exit."""
        with self._cv:
            running = sum(len(b.rows) for b in self._batches)
            if not running:
                if not self._pending:
                    self._cv.wait(self.idle_s)
                    if not self._pending:
                        self._worker = None
                        return None
                deadline = time.monotonic() + self.max_wait_s  # let a burst of requests arrive together
                while len(self._pending) < self.max_batch_size and (left := deadline - time.monotonic()) > 0:
                    self._cv.wait(left)
            new = []
            while self._pending and running + len(new) < self.max_batch_size:
                r = self._pending.popleft()
                if r.cancelled.is_set():
                    self._stats["cancelled"] += 1
                    continue
                new.append(r)
            return new

    def _guard(self, fn, *args) -> None:
        """A failure ends the requests it touched with the error, never the worker."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 — handed to each caller, who re-raises it
            rows = args[1] if fn == self._prefill else args[0].rows
            for r in rows:
                r.put(e)
            if fn != self._prefill:
                args[0].keep([])

    def _prefill(self, loaded: Loaded, rows: list[Request]) -> None:
        import torch
        from transformers import DynamicCache

        dev = loaded.model.device
        n = max(len(r.ids) for r in rows)
        pad = loaded.tok.pad_token_id if loaded.tok.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (n - len(r.ids)) + r.ids for r in rows], device=dev)
        # a prefix-tuned model starts from a cache holding its virtual tokens: they are attended to (mask 1)
        # and shift the positions of the real tokens, exactly as in training
        P = loaded.prefix_len
        mask = torch.tensor([[1] * P + [0] * (n - len(r.ids)) + [1] * len(r.ids) for r in rows], device=dev)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, P:]
        cache = loaded.prefix(len(rows)) if loaded.prefix is not None else DynamicCache()
        out = loaded.forward(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                           use_cache=True)
        for r in rows:
            if r.params.seed is not None:
                r.gen = torch.Generator().manual_seed(r.params.seed)
            if r.params.constraint is not None:
                r.constraint = r.params.constraint()
        keep, ended = self._advance(rows, out.logits[:, -1])
        batch = next((b for b in self._batches if b.loaded is loaded), None)
        tmp = _Batch(loaded)
        tmp.add(rows, out.past_key_values, mask)
        tmp.keep(keep)
        if tmp.rows:
            with self._cv:
                if batch is None:
                    self._batches.append(tmp)
                else:
                    batch.add(tmp.rows, tmp.cache, tmp.mask)
                self._stats["max_batch"] = max(self._stats["max_batch"], len(batch.rows if batch else tmp.rows))
        self._end(ended)

    def _step(self, b: _Batch) -> None:
        import torch

        alive = [i for i, r in enumerate(b.rows) if not r.cancelled.is_set()]
        if len(alive) < len(b.rows):
            with self._cv:
                self._stats["cancelled"] += len(b.rows) - len(alive)
                b.keep(alive)
            if not b.rows:
                return
        dev = b.mask.device
        b.mask = torch.cat([b.mask, b.mask.new_ones(len(b.rows), 1)], 1)
        pos = b.mask.sum(1, keepdim=True) - 1
        x = torch.tensor([[r.last] for r in b.rows], device=dev)
        out = b.loaded.forward(input_ids=x, attention_mask=b.mask, position_ids=pos, past_key_values=b.cache,
                             use_cache=True)
        b.cache = out.past_key_values
        keep, ended = self._advance(b.rows, out.logits[:, -1])
        with self._cv:
            self._stats["steps"] += 1
            self._stats["max_batch"] = max(self._stats["max_batch"], len(b.rows))
            b.keep(keep)
        self._end(ended)

    def _end(self, ended: list[tuple[Request, Done]]) -> None:
        """Hand over the last item once the rows have left the batch, so a caller that got it sees them gone."""
        with self._cv:
            self._stats["finished"] += len(ended)
        for r, done in ended:
            r.put(done)

    def _advance(self, rows: list[Request], logits) -> tuple[list[int], list[tuple[Request, Done]]]:
        """Sample each row's next token and stream its new text: the indices of the rows that go on, and the
        rows that ended with their Done."""
        import torch

        greedy = torch.argmax(logits, -1).tolist()
        keep, ended = [], []
        for i, r in enumerate(rows):
            p = r.params
            row = shape_logits(logits[i], r) if p.shapes_logits else logits[i]
            if p.temperature > 0:
                nxt = sample(row, p, r.gen)
            else:
                nxt = int(torch.argmax(row)) if p.shapes_logits else greedy[i]
            if p.logprobs and nxt not in r.loaded.eos:
                r.logprobs = r.logprobs if r.logprobs is not None else []
                r.logprobs.append(token_logprob(r.loaded.tok, logits[i], nxt, p.top_logprobs))
            if r.constraint is not None:
                r.constraint.accept(nxt)
            finish = self._emit(r, nxt)
            if finish is None and r.constraint is not None and r.constraint.finished():
                finish = "stop"  # the constrained output is complete (a whole JSON value)
                Batcher._flush(r, r.loaded.tok.decode(r.out_ids, skip_special_tokens=True))
            if finish is None:
                r.last = nxt
                keep.append(i)
            else:
                ended.append((r, Done(finish, len(r.ids), len(r.out_ids), r.logprobs)))
        return keep, ended

    @staticmethod
    def _emit(r: Request, nxt: int) -> str | None:
        """Push the text `nxt` completes; the finish reason when the row ends here. Text ending in an incomplete
        UTF-8 sequence waits for more bytes, and is flushed as it is when the row ends (as vLLM does)."""
        tok = r.loaded.tok
        if nxt in r.loaded.eos:
            Batcher._flush(r, tok.decode(r.out_ids, skip_special_tokens=True))
            return "stop"
        r.out_ids.append(nxt)
        text = tok.decode(r.out_ids, skip_special_tokens=True)
        cut = stop_at(text, r.params.stop)  # what precedes a complete stop string is final, even undecodable bytes
        if cut is not None:
            if cut > len(r.emitted):
                r.put(text[len(r.emitted):cut])
            r.emitted = text[:cut]
            return "stop"
        if "\ufffd" not in text[len(r.emitted):]:
            Batcher._flush(r, text)
        if len(r.out_ids) >= r.budget:
            Batcher._flush(r, text)
            return "length"
        return None

    @staticmethod
    def _flush(r: Request, text: str) -> None:
        if len(text) > len(r.emitted) and text.startswith(r.emitted):
            r.put(text[len(r.emitted):])
            r.emitted = text
