"""ONNX Runtime (fp32 and int8) against zaomo's built-in engine on CPU: decode speed and the int8 model's
quality loss on the quickstart's held-out QA set.

    make quickstart && python benchmarks/bench_export_onnx.py [--workspace quickstart-ws] [--max-tokens 32]

The model is the quickstart's SFT model (`models/handbook-chat`), exported with `zaomo export --format onnx
--int8`. Every side answers the same held-out questions one at a time (and, through the serving batcher, 8 at a
time), greedily, with the same prompt ids (the
model's own chat template) and the same stop ids; tokens/s counts the tokens each side generated. Accuracy is
zaomo's QA answer recall (whole units) of each side's answers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, default=Path("quickstart-ws"))
    ap.add_argument("--model", default="handbook-chat")
    ap.add_argument("--max-tokens", type=int, default=32)
    a = ap.parse_args()

    from zaomo.eval.metrics import answer_recall
    from zaomo.model.chat import prompt_ids, stop_ids
    from zaomo.model.export_onnx import export_onnx
    from zaomo.model.load import load_model
    from zaomo.model.onnx_lm import OnnxCausalLM
    from zaomo.serve.engines import BuiltinEngine, Done, GenParams, OnnxEngine
    from zaomo.utils.io import read_jsonl

    src = a.workspace / "models" / a.model
    qa = read_jsonl(a.workspace / "data" / "eval" / "qa_heldout.jsonl")
    model, tok = load_model(src, device="cpu", dtype="fp32")
    stops = set(stop_ids(tok, model))
    convs = [[{"role": "user", "content": q["question"]}] for q in qa]
    prompts = [prompt_ids(tok, c) for c in convs]
    out = Path(tempfile.mkdtemp(prefix="zaomo-onnx-"))
    t0 = time.perf_counter()
    export_onnx(model, tok, out, int8=True)
    print(f"exported {src} → {out} in {time.perf_counter() - t0:.1f} s "
          f"(model.onnx {(out / 'model.onnx').stat().st_size / 1e6:.1f} MB, "
          f"model.int8.onnx {(out / 'model.int8.onnx').stat().st_size / 1e6:.1f} MB)")

    def timed(answer, warm=2):
        """Warm up on the first questions (not timed), then answer every question once, timed."""
        for ids, c in list(zip(prompts, convs))[:warm]:
            answer(ids, c)
        t0 = time.perf_counter()
        res = [answer(ids, c) for ids, c in zip(prompts, convs)]
        return res, time.perf_counter() - t0

    engine = BuiltinEngine(src, device="cpu", dtype="fp32")

    def served(eng):
        def answer(_ids, conv):
            parts = list(eng.stream(conv, GenParams(max_tokens=a.max_tokens)))
            return "".join(p for p in parts if isinstance(p, str)), parts[-1].completion_tokens if isinstance(
                parts[-1], Done) else 0
        return answer

    builtin = served(engine)

    def onnx(lm):
        def answer(ids, _conv):
            new = [t for t in lm.greedy(ids, a.max_tokens, frozenset(stops)) if t not in stops]
            return tok.decode(new, skip_special_tokens=True).strip(), len(new)
        return answer

    def concurrent(answer):
        """Every question in flight at once from 8 client threads: the batcher decodes them together."""
        def run():
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(lambda ic: answer(*ic), zip(prompts, convs)))

        run()  # warm-up: the batch shapes of this run
        t0 = time.perf_counter()
        res = run()
        return res, time.perf_counter() - t0

    onnx_fp32, onnx_int8 = OnnxEngine(out, int8=False), OnnxEngine(out, int8=True)
    rows = {}
    for name, answer, how in (("built-in engine (torch fp32)", builtin, timed),
                              ("ONNX Runtime fp32", onnx(OnnxCausalLM(out, int8=False)), timed),
                              ("ONNX Runtime int8", onnx(OnnxCausalLM(out, int8=True)), timed),
                              ("serve.engine=onnx fp32", served(onnx_fp32), timed),
                              ("serve.engine=onnx int8", served(onnx_int8), timed),
                              ("built-in engine, 8 concurrent", builtin, concurrent),
                              ("serve.engine=onnx fp32, 8 concurrent", served(onnx_fp32), concurrent),
                              ("serve.engine=onnx int8, 8 concurrent", served(onnx_int8), concurrent)):
        res, secs = how(answer)
        n_tok = sum(k for _, k in res)
        acc = sum(answer_recall(t, q["answers"]) for (t, _), q in zip(res, qa)) / len(qa)
        rows[name] = {"tokens": n_tok, "seconds": secs, "tokens_per_s": n_tok / secs, "qa_accuracy": acc,
                      "answers": [t.strip() for t, _ in res]}
        print(f"{name:30s}: {n_tok} tokens in {secs:.2f} s = {n_tok / secs:7.1f} tokens/s; "
              f"QA answer recall {100 * acc:.1f}% ({len(qa)} held-out questions)")
    base = rows["built-in engine (torch fp32)"]
    for name in [n for n in rows if n != "built-in engine (torch fp32)"]:
        both = "concurrent" in name and name.startswith("serve")  # concurrent ONNX vs concurrent built-in
        base = rows["built-in engine, 8 concurrent" if both else "built-in engine (torch fp32)"]
        same = sum(x == y for x, y in zip(rows[name]["answers"], base["answers"]))
        print(f"{name}: {rows[name]['tokens_per_s'] / base['tokens_per_s']:.2f}x the built-in engine's tokens/s; "
              f"answers identical to the built-in engine's on {same}/{len(qa)}")
    print("RESULT " + json.dumps({k: {kk: v for kk, v in r.items() if kk != "answers"} for k, r in rows.items()}))


if __name__ == "__main__":
    main()
