"""Continuous batching in the built-in engine: concurrent requests give the same text as one at a time,
really share decode steps, stop per row, and a client that leaves frees its slot."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from zaomo.serve.app import create_app
from zaomo.serve.engines import BuiltinEngine, Done, GenParams
from zaomo.workspace import Workspace

PROMPTS = ["你好", "研发部的负责人是谁？", "Hello there, how are you doing today my friend?", "x", "抱歉",
           "The head", "研发部位于哪里", "hi"]



def run(engine, prompt: str, **kw) -> tuple[str, Done]:
    out = list(engine.stream([{"role": "user", "content": prompt}], GenParams(max_tokens=kw.pop("max_tokens", 24),
                                                                              **kw)))
    return "".join(x for x in out if isinstance(x, str)), out[-1]


def concurrently(fn, items):
    res = [None] * len(items)

    def work(i):
        res[i] = fn(items[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return res


def test_concurrent_requests_match_one_at_a_time(noisy_model_dir):
    engine = BuiltinEngine(noisy_model_dir, device="cpu", max_batch_size=8, batch_wait_ms=50)
    alone = [run(engine, p) for p in PROMPTS]
    assert engine.stats()["max_batch"] == 1
    assert len({t for t, _ in alone}) > 3  # the prompts really lead to different texts
    together = concurrently(lambda p: run(engine, p), PROMPTS)
    assert [t for t, _ in together] == [t for t, _ in alone]
    assert [d for _, d in together] == [d for _, d in alone]  # same finish reasons and token counts
    assert engine.stats()["max_batch"] == len(PROMPTS)

    # sampling with a seed is per request: the same draw alone and inside a batch
    sampled = [run(engine, p, temperature=0.9, top_p=0.9, seed=i) for i, p in enumerate(PROMPTS[:4])]
    batch = concurrently(lambda ip: run(engine, ip[1], temperature=0.9, top_p=0.9, seed=ip[0]),
                         list(enumerate(PROMPTS[:4])))
    assert [t for t, _ in batch] == [t for t, _ in sampled]
    assert engine.stats()["active"] == 0


def test_rows_stop_on_their_own(noisy_model_dir):
    engine = BuiltinEngine(noisy_model_dir, device="cpu", max_batch_size=4, batch_wait_ms=50)
    full = [run(engine, p, max_tokens=20) for p in PROMPTS[:4]]
    target = next(i for i, (t, _) in enumerate(full) if len(t) > 4)
    stop = full[target][0][2:4]
    jobs = [dict(max_tokens=20) for _ in range(4)]
    jobs[target] = dict(max_tokens=20, stop=[stop])
    jobs[(target + 1) % 4] = dict(max_tokens=5)
    out = concurrently(lambda i: run(engine, PROMPTS[i], **jobs[i]), list(range(4)))
    for i, (text, done) in enumerate(out):
        if i == target:
            assert text == full[i][0][:full[i][0].find(stop)] and done.finish_reason == "stop"
        elif i == (target + 1) % 4:
            assert done.completion_tokens <= 5 and full[i][0].startswith(text)
        else:
            assert (text, done) == full[i]


def test_gateway_batches_concurrent_clients_and_frees_the_slot_of_one_that_leaves(tmp_path, noisy_model_dir,
                                                                                   serve_app, slow_down):
    from sqlalchemy import select

    from zaomo.records import AuditRecord

    engine = BuiltinEngine(noisy_model_dir, device="cpu", name="tiny", max_batch_size=8, batch_wait_ms=20)
    alone = [run(engine, p, max_tokens=16)[0] for p in PROMPTS[:6]]
    slow_down(engine, 0.01)
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.guard=false"])
    with serve_app(create_app(ws, engine=engine)) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)

        def ask(i: int) -> str:
            msgs = [{"role": "user", "content": PROMPTS[i]}]
            if i % 2:  # half stream, half do not: both go through the batch
                chunks = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=16, stream=True)
                return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            return client.chat.completions.create(model="tiny", messages=msgs, max_tokens=16).choices[0].message.content

        assert concurrently(ask, list(range(6))) == alone
        assert engine.stats()["max_batch"] >= 3
        metrics = httpx.get(srv.url + "/metrics", timeout=10).text
        assert f'zaomo_engine{{stat="max_batch"}} {float(engine.stats()["max_batch"])}' in metrics

        # a streaming client that reads a little and hangs up
        slow_down(engine, 0.02, no_eos=True)
        t0 = time.monotonic()
        with httpx.stream("POST", srv.url + "/v1/chat/completions", timeout=30, json={
                "stream": True, "max_tokens": 250, "messages": [{"role": "user", "content": "你好"}]}) as r:
            lines = r.iter_lines()
            while not next(lines).startswith("data:"):  # the first chunk: the stream is open
                pass
            while engine.stats()["running"] == 0 and time.monotonic() - t0 < 20:  # and decoding
                time.sleep(0.01)
            assert engine.stats()["active"] == 1
        while engine.stats()["active"] and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        freed_after = time.monotonic() - t0
        assert engine.stats()["active"] == 0 and engine.stats()["cancelled"] == 1
        assert freed_after < 250 * 0.02 / 2  # long before its 250 tokens would have been generated
    time.sleep(0.2)
    with ws.registry.session() as s:
        statuses = sorted(a.status for a in s.scalars(select(AuditRecord)))
    assert statuses == [200] * 6 + [499]  # the partial answer is audited too


def test_requests_join_and_leave_a_running_batch(noisy_model_dir, slow_down):
    """A short prompt and a long one join a batch that is already decoding; rows end at different steps, so the
    cache is padded on join and trimmed on leave — every text still equals the text generated alone."""
    engine = BuiltinEngine(noisy_model_dir, device="cpu", max_batch_size=8, batch_wait_ms=0)
    long_prompt = "研发部的负责人是谁？研发部位于总部大楼几楼？" * 3
    jobs = [("The head", 30), ("x", 6), (long_prompt, 12), ("你好", 20)]
    slow_down(engine, 0.01, no_eos=True)  # every row runs to its own max_tokens
    alone = [run(engine, p, max_tokens=n) for p, n in jobs]
    got: list = [None] * len(jobs)
    threads = []
    base = engine.stats()["finished"]
    deadline = time.monotonic() + 30
    for i, (p, n) in enumerate(jobs):  # each is submitted once the previous one is in the batch (or done)
        threads.append(threading.Thread(target=lambda i=i, p=p, n=n: got.__setitem__(i, run(engine, p,
                                                                                              max_tokens=n))))
        threads[-1].start()
        while (st := engine.stats())["running"] + st["finished"] - base < len(threads):
            assert time.monotonic() < deadline, st
            time.sleep(0.001)
    for t in threads:
        t.join(timeout=30)
    assert got == alone
    assert [d.completion_tokens for _, d in got] == [n for _, n in jobs]
    assert engine.stats()["max_batch"] >= 3 and engine.stats()["active"] == 0


def test_a_failing_forward_fails_its_requests_not_the_engine(noisy_model_dir):
    engine = BuiltinEngine(noisy_model_dir, device="cpu")
    fail = {"on": True}

    def hook(module, args, output):
        if fail["on"]:
            raise RuntimeError("device lost")
        return output

    engine.model.register_forward_hook(hook)
    with pytest.raises(RuntimeError, match="device lost"):
        run(engine, "你好")
    fail["on"] = False
    text, done = run(engine, "你好", max_tokens=5)
    assert done.completion_tokens == 5 and engine.stats()["active"] == 0
