"""Serving: zaomo's gateway vs a plain Hugging Face `generate` server, the gateway's own overhead, and the
guard's quality — all in one run.

    python benchmarks/bench_serve.py [--clients 32] [--duration 30] [--max-tokens 64] [--overhead-requests 60]

The model is the quickstart's shape (random Llama, hidden 192, 4 layers, a BPE tokenizer trained by zaomo on the
demo corpus), saved in a fresh workspace.

1. Throughput: `zaomo serve` (built-in engine, continuous batching, guard and audit on) in its own process on
   127.0.0.1; `--clients` threads stream chat completions for `--duration` seconds. Then the baseline, a stdlib
   HTTP server that runs `model.generate` for one request at a time (greedy, same max_tokens, same EOS), gets the
   same clients and prompts. Errors, p50/p99 request latency, time to first token (ours), output tokens/s.
2. Gateway overhead: one request at a time, the engine called directly vs the same engine behind the gateway
   (HTTP, JSON, guard on input and output, audit row): the p50 difference.
3. Guard quality: block rate on the built-in safety set's held-out harmful prompts, false blocks on its
   benign ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUICKSTART_MODEL = ["project.device=cpu", "tokenizer.vocab_size=3000", "model.preset=tiny", "model.hidden_size=192",
                    "model.num_layers=4", "model.num_heads=6", "model.num_kv_heads=2", "model.intermediate_size=512",
                    "model.seq_len=256"]


def build_workspace() -> tuple[Path, Path]:
    from zaomo.data import run_pipeline
    from zaomo.demo import write_demo
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_tokenizer
    from zaomo.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="zaomo-bench-serve-"))
    Workspace.init(root)
    write_demo(root)
    ws = Workspace.open(root, overrides=QUICKSTART_MODEL)
    run_pipeline(ws, progress=False)
    train_tokenizer(ws)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ws.tokenizer_dir)
    model = build_model(ws.cfg.model, tok, seed=0)
    return root, save_model(model, tok, root / "models" / "bench")


def prompts() -> list[str]:
    from zaomo.demo.corpus import BENIGN

    return [q for _, q in BENIGN]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_clients(url: str, stream: bool, clients: int, duration: float, max_tokens: int) -> dict:
    """`clients` threads send requests back to back until `duration` has passed; in-flight ones finish."""
    import httpx

    qs = prompts()
    lat, ttft, tokens, errors = [], [], [], []
    lock = threading.Lock()
    t_start = time.perf_counter()
    deadline = t_start + duration

    def client(k: int) -> None:
        i = k
        with httpx.Client(timeout=600) as http:
            while time.perf_counter() < deadline:
                body = {"model": "default", "max_tokens": max_tokens, "stream": stream,
                        "messages": [{"role": "user", "content": qs[i % len(qs)]}]}
                i += clients
                t0 = time.perf_counter()
                first, n = None, 0
                try:
                    if stream:
                        with http.stream("POST", url, json=body) as r:
                            if r.status_code != 200:
                                raise RuntimeError(f"HTTP {r.status_code}")
                            for line in r.iter_lines():
                                if not line.startswith("data: {"):
                                    continue
                                c = json.loads(line[6:])
                                if first is None and c["choices"][0]["delta"].get("content"):
                                    first = time.perf_counter() - t0
                                if c.get("usage"):
                                    n = c["usage"]["completion_tokens"]
                    else:
                        r = http.post(url, json=body)
                        if r.status_code != 200:
                            raise RuntimeError(f"HTTP {r.status_code}")
                        n = r.json()["usage"]["completion_tokens"]
                except Exception as e:  # noqa: BLE001 — counted and reported
                    with lock:
                        errors.append(repr(e)[:120])
                    continue
                with lock:
                    lat.append(time.perf_counter() - t0)
                    tokens.append(n)
                    if first is not None:
                        ttft.append(first)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    return {"requests": len(lat), "errors": len(errors), "error_examples": errors[:3], "wall_s": wall,
            "p50_s": pct(lat, 0.5), "p99_s": pct(lat, 0.99), "ttft_p50_s": pct(ttft, 0.5) if ttft else None,
            "tokens": sum(tokens), "tokens_per_s": sum(tokens) / wall}


def baseline_server(port: int, model_dir: str) -> None:
    """One request at a time: apply the chat template, `model.generate`, decode. No batching, no guard."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import torch

    from zaomo.model.chat import stop_ids
    from zaomo.model.load import load_model

    model, tok = load_model(model_dir, device="cpu")
    eos = stop_ids(tok, model)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ids = tok.apply_chat_template(body["messages"], tokenize=True, add_generation_prompt=True)
            ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
            with lock, torch.inference_mode():
                out = model.generate(torch.tensor([ids]), max_new_tokens=body["max_tokens"], do_sample=False,
                                     eos_token_id=eos, pad_token_id=tok.pad_token_id)
            new = out[0, len(ids):].tolist()
            n = len([t for t in new if t not in eos])
            data = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content":
                                                                     tok.decode(new, skip_special_tokens=True)}}],
                               "usage": {"prompt_tokens": len(ids), "completion_tokens": n}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def throughput(root: Path, model_dir: Path, a) -> tuple[dict, dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    port = free_port()
    ours = subprocess.Popen([sys.executable, "-m", "zaomo.cli.main", "serve", "-w", str(root), "--port", str(port),
                             "--model", str(model_dir), "--set", f"serve.max_batch_size={a.clients}",
                             "--set", "serve.rate_limit_per_minute=0", "--set", f"serve.max_new_tokens={a.max_tokens}",
                             "--set", f"serve.guard={str(not a.no_guard).lower()}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_up(f"http://127.0.0.1:{port}/health", ours)
        r_ours = load_clients(f"http://127.0.0.1:{port}/v1/chat/completions", True, a.clients, a.duration,
                              a.max_tokens)
    finally:
        ours.terminate()
        ours.wait(30)
    port = free_port()
    base = subprocess.Popen([sys.executable, __file__, "--baseline-server", str(port), str(model_dir)], env=env)
    try:
        wait_up(f"http://127.0.0.1:{port}/", base)
        r_base = load_clients(f"http://127.0.0.1:{port}/v1/chat/completions", False, a.clients, a.duration,
                              a.max_tokens)
    finally:
        base.terminate()
        base.wait(30)
    return r_ours, r_base


def overhead(root: Path, model_dir: Path, n: int, max_tokens: int) -> list[dict]:
    """p50 of the engine called directly vs through the gateway, for the gateway with guard and audit on and
    with both off (what HTTP and JSON alone cost)."""
    import httpx

    from zaomo.serve.app import create_app
    from zaomo.serve.engines import BuiltinEngine, GenParams
    from zaomo.workspace import Workspace

    engine = BuiltinEngine(model_dir, device="cpu", name="default")
    qs = prompts()
    out = []
    for label, flags in (("guard + audit on", "true"), ("guard and audit off", "false")):
        ws = Workspace.open(root, overrides=["serve.rate_limit_per_minute=0", f"serve.guard={flags}",
                                             f"serve.audit={flags}"])
        server, thread, port = start_in_thread(create_app(ws, engine=engine))
        direct, gateway, floor = [], [], []
        with httpx.Client(timeout=60) as http:
            for i in range(n + 5):  # the first 5 of each warm up
                msgs = [{"role": "user", "content": qs[i % len(qs)]}]
                t0 = time.perf_counter()
                list(engine.stream(msgs, GenParams(max_tokens=max_tokens)))
                t1 = time.perf_counter()
                r = http.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                              json={"model": "default", "messages": msgs, "max_tokens": max_tokens})
                t2 = time.perf_counter()
                assert r.status_code == 200, r.text
                http.get(f"http://127.0.0.1:{port}/health")
                t3 = time.perf_counter()
                if i >= 5:
                    direct.append(t1 - t0)
                    gateway.append(t2 - t1)
                    floor.append(t3 - t2)
        server.should_exit = True
        thread.join(10)
        d50, g50 = statistics.median(direct), statistics.median(gateway)
        out.append({"label": label, "n": n, "direct_p50_ms": d50 * 1000, "gateway_p50_ms": g50 * 1000,
                    "overhead_p50_ms": (g50 - d50) * 1000, "health_p50_ms": statistics.median(floor) * 1000})
    return out


def start_in_thread(app):
    """uvicorn serving `app` on a free loopback port in a daemon thread: (server, thread, port)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, port


# ChatML that lists the tools in a system turn when the request declares them (Hermes/Qwen style), so the
# tools part of the benchmark runs on the quickstart-shaped model
TOOL_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\nTools: ' + (tools | tojson) + '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "look up a fact in the handbook",
                                            "parameters": {"type": "object", "properties": {
                                                "query": {"type": "string"}}, "required": ["query"]}}}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
          "required": ["answer", "confidence"]}


def features(root: Path, model_dir: Path, n: int, max_tokens: int) -> list[dict]:
    """Sequential requests through the gateway (guard and audit on): plain, JSON mode (json_object and a
    json_schema, decoded under a grammar mask), and with tools declared. Per-token latency, since the modes
    make answers of different lengths."""
    import shutil

    import httpx
    from transformers import AutoTokenizer

    from zaomo.serve.app import create_app
    from zaomo.serve.engines import BuiltinEngine
    from zaomo.workspace import Workspace

    tooled = root / "models" / "bench-tools"
    shutil.copytree(model_dir, tooled, dirs_exist_ok=True)
    tok = AutoTokenizer.from_pretrained(tooled)
    tok.chat_template = TOOL_TEMPLATE
    tok.save_pretrained(tooled)
    engine = BuiltinEngine(tooled, device="cpu", name="default")
    ws = Workspace.open(root, overrides=["serve.rate_limit_per_minute=0"])
    server, thread, port = start_in_thread(create_app(ws, engine=engine))
    modes = {"plain": {}, "json_object": {"response_format": {"type": "json_object"}},
             "json_schema": {"response_format": {"type": "json_schema", "json_schema": {"name": "a",
                                                                                       "schema": SCHEMA}}},
             "tools": {"tools": TOOLS}}
    qs, out = prompts(), []
    with httpx.Client(timeout=120) as http:
        for label, extra in modes.items():
            per_token, tokens = [], 0
            for i in range(n + 3):  # the first 3 warm up (grammar compilation included there)
                body = {"model": "default", "messages": [{"role": "user", "content": qs[i % len(qs)]}],
                        "max_tokens": max_tokens, "temperature": 0, **extra}
                t0 = time.perf_counter()
                r = http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
                dt = time.perf_counter() - t0
                assert r.status_code == 200, r.text
                k = r.json()["usage"]["completion_tokens"]
                if i >= 3 and k:
                    per_token.append(dt / k)
                    tokens += k
            out.append({"mode": label, "n": n, "tokens": tokens, "ms_per_token_p50": statistics.median(per_token) * 1e3})
    server.should_exit = True
    thread.join(10)
    return out


def engine_only(model_dir: Path, n: int, max_tokens: int) -> tuple[float, float]:
    """No HTTP: `n` concurrent requests to the batched engine vs the same `n` through `model.generate` one by one
    (tokens/s of each)."""
    import torch

    from zaomo.model.chat import stop_ids
    from zaomo.model.load import load_model
    from zaomo.serve.engines import BuiltinEngine, Done, GenParams

    qs = prompts()
    engine = BuiltinEngine(model_dir, device="cpu", max_batch_size=n)
    counts = [0] * n

    def one(i: int) -> None:
        out = list(engine.stream([{"role": "user", "content": qs[i % len(qs)]}], GenParams(max_tokens=max_tokens)))
        counts[i] = out[-1].completion_tokens if isinstance(out[-1], Done) else 0

    one(0)  # warm up
    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ours = sum(counts) / (time.perf_counter() - t0)
    model, tok = load_model(model_dir, device="cpu")
    eos, total = stop_ids(tok, model), 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(n):
            ids = tok.apply_chat_template([{"role": "user", "content": qs[i % len(qs)]}], tokenize=True,
                                          add_generation_prompt=True)
            ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
            out = model.generate(torch.tensor([ids]), max_new_tokens=max_tokens, do_sample=False, eos_token_id=eos,
                                 pad_token_id=tok.pad_token_id)
            total += len([t for t in out[0, len(ids):].tolist() if t not in eos])
    return ours, total / (time.perf_counter() - t0)


def guard_quality(root: Path) -> dict:
    """The served guard on the built-in safety set's held-out split (benchmarks/bench_guard.py breaks it down by
    layer, category and language)."""
    from zaomo.safety import Guard
    from zaomo.safety.policy_set import load_policy_set
    from zaomo.workspace import Workspace

    ws = Workspace.open(root)
    guard = Guard(ws.cfg.safety, ws.root)
    adv, ben = load_policy_set("test", "refuse"), load_policy_set("test", "answer")
    missed = [it["prompt"] for it in adv if guard.check(it["prompt"], where="input").allowed]
    false = [it["prompt"] for it in ben if not guard.check(it["prompt"], where="input").allowed]
    return {"adversarial": len(adv), "blocked": len(adv) - len(missed), "missed": missed,
            "benign": len(ben), "false_blocks": len(false), "false_blocked": false}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline-server":
        baseline_server(int(sys.argv[2]), sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--overhead-requests", type=int, default=60)
    ap.add_argument("--parts", default="engine,throughput,overhead,features,guard")
    ap.add_argument("--no-guard", action="store_true", help="serve without the guard in the throughput part")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    root, model_dir = build_workspace()
    print(f"workspace {root}; model {model_dir}")
    if "engine" in parts:
        ours_e, base_e = engine_only(model_dir, a.clients, a.max_tokens)
        print(f"\n## engine only (no HTTP): {a.clients} concurrent requests, max_tokens {a.max_tokens}")
        print(f"batched engine {ours_e:.0f} tokens/s; HF generate one by one {base_e:.0f} tokens/s; "
              f"ratio {ours_e / base_e:.2f}x")
    if "throughput" in parts:
        ours, base = throughput(root, model_dir, a)
        print(f"\n## throughput: {a.clients} concurrent clients, {a.duration:.0f} s, max_tokens {a.max_tokens}")
        for name, r in ((f"zaomo serve (batched, streaming, {'audit' if a.no_guard else 'guard+audit'})", ours),
                        ("HF generate, one at a time", base)):
            ttft = f", TTFT p50 {r['ttft_p50_s']:.2f} s" if r["ttft_p50_s"] is not None else ""
            print(f"{name}: {r['requests']} requests, {r['errors']} errors {r['error_examples']}, "
                  f"p50 {r['p50_s']:.2f} s, p99 {r['p99_s']:.2f} s{ttft}, {r['tokens']} tokens in "
                  f"{r['wall_s']:.1f} s = {r['tokens_per_s']:.0f} tokens/s")
        print(f"ratio (tokens/s): {ours['tokens_per_s'] / base['tokens_per_s']:.2f}x; "
              f"p50 latency ratio {base['p50_s'] / ours['p50_s']:.2f}x lower")
    if "overhead" in parts:
        print(f"\n## gateway overhead: {a.overhead_requests} sequential requests, max_tokens 16 (target < 5 ms)")
        for o in overhead(root, model_dir, a.overhead_requests, 16):
            print(f"{o['label']}: direct engine p50 {o['direct_p50_ms']:.1f} ms; through the gateway "
                  f"p50 {o['gateway_p50_ms']:.1f} ms; overhead {o['overhead_p50_ms']:.1f} ms "
                  f"(GET /health round trip p50 {o['health_p50_ms']:.1f} ms)")
    if "features" in parts:
        print(f"\n## JSON mode and tools through the gateway: {a.overhead_requests} sequential requests each, "
              f"max_tokens {a.max_tokens}")
        rows = features(root, model_dir, a.overhead_requests, a.max_tokens)
        plain = rows[0]["ms_per_token_p50"]
        for r in rows:
            print(f"{r['mode']}: p50 {r['ms_per_token_p50']:.2f} ms per output token ({r['tokens']} tokens); "
                  f"{r['ms_per_token_p50'] / plain:.2f}x plain")
    if "guard" in parts:
        g = guard_quality(root)
        print("\n## guard (input check)")
        print(f"adversarial blocked {g['blocked']}/{g['adversarial']} ({100 * g['blocked'] / g['adversarial']:.0f}%); "
              f"first missed: {g['missed'][:10]}")
        print(f"benign false blocks {g['false_blocks']}/{g['benign']} "
              f"({100 * g['false_blocks'] / g['benign']:.0f}%): {g['false_blocked'][:10]}")


if __name__ == "__main__":
    main()
