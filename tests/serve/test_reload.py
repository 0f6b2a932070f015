"""Hot reload while requests are in flight: they finish on the old version, new requests get the promoted
one, and none is dropped."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from zaomo.serve.app import create_app
from zaomo.serve.engines import BuiltinEngine, Done, GenParams
from zaomo.workspace import Workspace

PROMPTS = ["你好", "Hello there", "研发部的负责人是谁？"]


def greedy(engine, prompt: str, n: int) -> str:
    out = engine.stream([{"role": "user", "content": prompt}], GenParams(max_tokens=n))
    return "".join(x for x in out if not isinstance(x, Done))


def test_reload_keeps_in_flight_requests_on_the_old_version(tmp_path, noisy_model_factory, serve_app, slow_down):
    old_dir, new_dir = noisy_model_factory(1), noisy_model_factory(3)
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.guard=false"])
    v1 = ws.registry.register_model("tiny", str(old_dir))
    ws.registry.set_model_status(v1.id, "promoted")
    v2 = ws.registry.register_model("tiny", str(new_dir))

    engine = BuiltinEngine(old_dir, device="cpu", name="tiny")
    slow_down(engine, 0.04, no_eos=True)  # only the old weights are slow: 30 tokens take > 1 s
    n = 30
    with ThreadPoolExecutor(len(PROMPTS)) as pool:  # batched: as the test_batching tests show, same text
        want_old = list(pool.map(lambda p: greedy(engine, p, n), PROMPTS))
    want_new = greedy(BuiltinEngine(new_dir, device="cpu"), PROMPTS[0], 8)
    assert want_new and not want_old[0].startswith(want_new)  # the two versions answer differently

    with serve_app(create_app(ws, engine=engine)) as srv:
        started = threading.Barrier(len(PROMPTS) + 1, timeout=30)
        results: list[dict] = [{} for _ in PROMPTS]

        def stream(i: int) -> None:
            text, finish = "", None
            with httpx.stream("POST", srv.url + "/v1/chat/completions", timeout=60, json={
                    "stream": True, "max_tokens": n, "messages": [{"role": "user", "content": PROMPTS[i]}]}) as r:
                for line in r.iter_lines():
                    if line == "data: [DONE]":
                        results[i]["done"] = True
                    if not line.startswith("data: {"):
                        continue
                    ch = json.loads(line[6:])["choices"][0]
                    if ch["delta"].get("role"):
                        started.wait()
                    text += ch["delta"].get("content") or ""
                    finish = ch["finish_reason"] or finish
            results[i].update(text=text, finish=finish)

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(PROMPTS))]
        for t in threads:
            t.start()
        started.wait()
        steps = engine.stats()["steps"]
        deadline = time.monotonic() + 20
        while engine.stats()["running"] < len(PROMPTS) or engine.stats()["steps"] < steps + 3:
            assert time.monotonic() < deadline, engine.stats()
            time.sleep(0.01)
        # every request is now decoding on the old weights
        ws.registry.set_model_status(v2.id, "promoted")
        reloaded = httpx.post(srv.url + "/admin/reload", timeout=60).json()
        assert reloaded["path"] == str(new_dir)
        assert engine.stats()["running"] > 0  # the old requests are still going
        r = httpx.post(srv.url + "/v1/chat/completions", timeout=60, json={
            "max_tokens": 8, "messages": [{"role": "user", "content": PROMPTS[0]}]}).json()
        assert r["choices"][0]["message"]["content"] == want_new
        for t in threads:
            t.join(timeout=60)
        assert httpx.get(srv.url + "/health", timeout=10).json()["path"] == str(new_dir)
    assert [x["text"] for x in results] == want_old
    assert all(x["finish"] == "length" and x["done"] for x in results)
    assert engine.stats()["active"] == 0
