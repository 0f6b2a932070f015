"""Serving speed of an OpenAI-compatible endpoint: time to first token, output tokens/s, latency p50/p95 at
a given concurrency, with streaming requests (as users feel it)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def measure_speed(base_url: str, prompts: list[str], concurrency: int = 4, max_tokens: int = 64,
                  model: str | None = None, api_key: str | None = None, timeout: float = 120.0) -> dict:
    """One streaming chat request per prompt, `concurrency` at a time. Output tokens are the server's
    `usage.completion_tokens` when it sends them, else the number of content deltas."""
    import httpx

    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    results: list[dict] = []
    lock = threading.Lock()

    def one(prompt: str) -> None:
        t0 = time.perf_counter()
        ttft, deltas, usage, err = None, 0, None, None
        body = {"model": model or "default", "stream": True, "max_tokens": max_tokens, "temperature": 0,
                "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": prompt}]}
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=timeout) as r:
                if r.status_code != 200:
                    err = f"HTTP {r.status_code}"
                for line in r.iter_lines() if err is None else []:
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    c = json.loads(line[5:])
                    if c.get("usage"):
                        usage = c["usage"].get("completion_tokens")
                    for ch in c.get("choices", []):
                        if ch.get("delta", {}).get("content"):
                            deltas += 1
                            ttft = ttft if ttft is not None else time.perf_counter() - t0
        except httpx.HTTPError as e:
            err = type(e).__name__
        with lock:
            results.append({"latency": time.perf_counter() - t0, "ttft": ttft, "tokens": usage or deltas,
                            "error": err})

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, prompts))
    wall = time.perf_counter() - t0
    ok = [r for r in results if r["error"] is None]
    lat = [r["latency"] for r in ok]
    ttft = [r["ttft"] for r in ok if r["ttft"] is not None]
    toks = sum(r["tokens"] for r in ok)
    per_req = [r["tokens"] / r["latency"] for r in ok if r["latency"] > 0 and r["tokens"]]
    return {"requests": len(results), "errors": len(results) - len(ok), "concurrency": concurrency,
            "latency_p50_s": _pct(lat, 0.5), "latency_p95_s": _pct(lat, 0.95), "ttft_p50_s": _pct(ttft, 0.5),
            "ttft_p95_s": _pct(ttft, 0.95), "output_tokens": toks, "output_tokens_per_s": toks / wall,
            "tokens_per_s_per_request": statistics.mean(per_req) if per_req else 0.0, "wall_s": wall}
