"""Pre-tokenisation: zaomo's streaming tokeniser into a uint32 memmap vs `datasets.map(batched=True)`
(what HF-Trainer-based toolkits do), on the same generated JSONL, each in its own process for peak RSS.

    python benchmarks/bench_pretokenize.py [--mb 1024]

Prints tokens/s, MB/s and peak RSS of each, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_corpus(path: Path, mb: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    zh = "数据清洗是训练模型的第一步我们需要去重过滤敏感词并且保留高质量的中文和英文文本每一条记录都要有来源"
    en = "the model learns from clean data and every record keeps its source so that we can audit it later".split()
    target = mb * 2**20
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            if rng.random() < 0.5:
                text = "。".join("".join(rng.choices(zh, k=rng.randint(8, 30))) for _ in range(rng.randint(5, 40)))
            else:
                text = ". ".join(" ".join(rng.choices(en, k=rng.randint(5, 20))) for _ in range(rng.randint(5, 40)))
            line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
            f.write(line)
            written += len(line.encode())


def child(kind: str, corpus: Path, tok_dir: Path, out: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    t0 = time.perf_counter()
    if kind == "zaomo":
        from zaomo.train.data import pretokenize

        n = len(pretokenize([corpus], tok, out))
    else:
        from datasets import load_dataset

        ds = load_dataset("json", data_files=str(corpus), split="train", cache_dir=str(out))
        ds = ds.map(lambda b: tok(b["text"], add_special_tokens=False), batched=True, remove_columns=["text"])
        n = sum(len(x) + 1 for x in ds["input_ids"])  # +1: the document separator zaomo appends
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB → MiB on Linux
    print(json.dumps({"tokens": n, "seconds": dt, "peak_rss_mb": rss}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], Path(a.child[1]), Path(a.child[2]), Path(a.child[3]))
        return
    from zaomo.model.tokenizer import train_bpe

    root = Path(tempfile.mkdtemp(prefix="zaomo-pretok-"))
    corpus = root / "corpus.jsonl"
    make_corpus(corpus, a.mb)
    size_mb = corpus.stat().st_size / 2**20
    sample = [json.loads(line)["text"] for _, line in zip(range(2000), open(corpus, encoding="utf-8"))]
    train_bpe(sample, 8000, root / "tok")
    res = {}
    for kind in ("zaomo", "datasets"):
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(corpus), str(root / "tok"),
                              str(root / f"out-{kind}")], capture_output=True, text=True, check=True).stdout
        res[kind] = json.loads(out.strip().splitlines()[-1])
        r = res[kind]
        print(f"{kind:9s}: {r['tokens'] / r['seconds']:12,.0f} tokens/s  {size_mb / r['seconds']:7.1f} MB/s  "
              f"peak RSS {r['peak_rss_mb']:7.0f} MiB  ({r['tokens']:,} tokens, {r['seconds']:.1f} s)")
    z, d = res["zaomo"], res["datasets"]
    print(f"corpus {size_mb:.0f} MB; same token count: {z['tokens'] == d['tokens']}; "
          f"speed ratio {d['seconds'] / z['seconds']:.2f}x; RSS ratio {d['peak_rss_mb'] / z['peak_rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
