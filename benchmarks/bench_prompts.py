"""Versioned prompts: what the per-request lookup of the served prompt costs.

    python benchmarks/bench_prompts.py [--names 20] [--lookups 5000] [--requests 300]

1. Lookup: `PromptCache.for_model` on a SQLite workspace with `--names` prompts of 5 versions each, one promoted
   per name (half bound to the served model): p50 and mean per call when nothing changed (the one aggregate
   query), and the call right after a promote (the promoted rows re-read).
2. End to end: a real server on 127.0.0.1 (tiny random Llama, built-in engine, audit on, guard off so the
   figure is not lost in the guard's spread), one request at a time, `max_tokens=1`, interleaved:
   serve.prompt=none (no lookup) vs auto with no prompt for this model (lookup only) vs auto with a promoted
   prompt (lookup + a 14-character system message the model reads). p50 of each and the differences.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXTS = ["研发部的负责人是王建国。研发部位于总部大楼3楼。", "The head of the R&D Department is Wang Jianguo.",
         "你好！有什么可以帮你？", "Hello, how can I help you today?"] * 20


def tiny_model(root: Path) -> Path:
    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe

    tok = train_bpe(iter(TEXTS), 400, root / "tok", min_frequency=1, model_max_length=256)
    return save_model(build_model(ModelConfig(preset="tiny", seq_len=256), tok, seed=0), tok, root / "model")


def lookups(ws, names: int, n: int) -> None:
    from zaomo.feedback.prompts import add_prompt, promote
    from zaomo.serve.prompts import PromptCache

    for i in range(names):
        for v in range(5):
            add_prompt(ws, f"p{i}", f"prompt {i} version {v}", model="tiny" if i % 2 else None)
        promote(ws, f"p{i}:3")
    cache = PromptCache(ws.registry, "auto")
    cache.for_model("tiny")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        cache.for_model("tiny")
        times.append(time.perf_counter() - t)
    promote(ws, "p1:5")
    t = time.perf_counter()
    got = cache.for_model("tiny")
    changed = time.perf_counter() - t
    assert (got.name, got.version) == ("p1", 5)
    print(f"lookup, nothing changed: p50 {statistics.median(times) * 1e6:.0f} µs, mean "
          f"{statistics.mean(times) * 1e6:.0f} µs over {n} calls ({names} names × 5 versions)")
    print(f"lookup right after a promote (rows re-read): {changed * 1e6:.0f} µs")


def end_to_end(root: Path, model_dir: Path, requests: int) -> None:
    import httpx
    import uvicorn

    from zaomo.feedback.prompts import add_prompt, promote
    from zaomo.serve.app import create_app
    from zaomo.workspace import Workspace

    Workspace.init(root)
    reg = Workspace.open(root).registry
    reg.set_model_status(reg.register_model("tiny", str(model_dir)).id, "promoted")
    ws = Workspace.open(root, overrides=["serve.guard=false", "project.device=cpu", "serve.model=tiny",
                                         "serve.rate_limit_per_minute=0"])
    app = create_app(ws)
    gw = app.state.gateway
    for name, model in (("elsewhere", "another-model"), ("served", gw.engine.name)):
        add_prompt(ws, name, "你是客服，请简洁回答。", model=model)
    promote(ws, "elsewhere:1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    body = {"messages": [{"role": "user", "content": "你好"}], "max_tokens": 1}
    modes = {"none": ("none", False), "lookup only": ("auto", False), "lookup + prompt": ("auto", True)}
    times: dict[str, list[float]] = {k: [] for k in modes}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
        for _ in range(20):
            c.post("/v1/chat/completions", json=body)  # warm up
        for _ in range(requests):
            for label, (setting, served) in modes.items():
                gw.prompts.setting = setting
                if served != any(p.name == "served" for p in gw.prompts.promoted()):
                    ws.registry.set_prompt_status(ws.registry.get_prompt("served", 1).id,
                                                  "promoted" if served else "retired")
                    gw.prompts.promoted()  # the re-read is measured in part 1, not here
                t = time.perf_counter()
                r = c.post("/v1/chat/completions", json=body)
                times[label].append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
    server.should_exit = True
    thread.join(timeout=10)
    p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"end to end, {requests} requests each, interleaved, max_tokens=1, p50: "
          + ", ".join(f"{k} {v:.2f} ms" for k, v in p50.items()))
    print(f"added by the lookup: {p50['lookup only'] - p50['none']:+.2f} ms; by lookup + system prompt: "
          f"{p50['lookup + prompt'] - p50['none']:+.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=20)
    ap.add_argument("--lookups", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=300)
    a = ap.parse_args()
    from zaomo.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="zaomo-bench-prompts-"))
    ws = Workspace.init(root / "ws")
    lookups(Workspace.open(ws.root), a.names, a.lookups)
    end_to_end(root / "ws2", tiny_model(root), a.requests)


if __name__ == "__main__":
    main()
