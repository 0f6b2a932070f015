"""Eval reports: report.json (metrics, per-item results, reproducibility card) and report.html."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict
from pathlib import Path

from ..utils.io import atomic_write_json, atomic_write_text


def _bar_png(metrics: dict[str, float]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k, v in metrics.items() if isinstance(v, float) and 0 <= v <= 1 and k.count(".") == 1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(keys) + 1))
    ax.barh(keys, [metrics[k] for k in keys])
    ax.set_xlim(0, 1)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(out_dir: Path, rep) -> tuple[Path, Path]:
    d = asdict(rep)
    d.pop("path", None)
    d.pop("html_path", None)
    jpath, hpath = out_dir / "report.json", out_dir / "report.html"
    atomic_write_json(jpath, d)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" if isinstance(v, float) else
                   f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rep.metrics.items())
    skipped = "".join(f"<li>{html.escape(t)}: skipped — {html.escape(why)}</li>"
                      for t, why in getattr(rep, "skipped", {}).items())
    skipped = f"<h2>Tasks not run</h2><ul>{skipped}</ul>" if skipped else ""
    who = f"model: <code>{html.escape(str(rep.model))}</code>" if getattr(rep, "model", None) else ""
    if getattr(rep, "prompt", None):
        p = rep.prompt
        who += f" · prompt: <code>{html.escape(p['name'])}:{p['version']}</code>"
    samples = ""
    for task, items in rep.items.items():
        lis = "".join(f"<li>{html.escape(json.dumps(i, ensure_ascii=False)[:400])}</li>" for i in items[:8])
        samples += f"<h3>{html.escape(task)}</h3><ul>{lis}</ul>"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>zaomo eval {html.escape(rep.run_id)}</title>
<style>body{{font-family:system-ui,'WenQuanYi Micro Hei',sans-serif;max-width:960px;margin:2em auto;padding:0 1em}}
td{{border:1px solid #ccc;padding:3px 8px}}table{{border-collapse:collapse}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style>
</head><body><h1>Evaluation {html.escape(rep.run_id)}</h1><p>target: <code>{html.escape(rep.target)}</code></p><p>{who}</p>
<table>{rows}</table>{skipped}<img alt="metrics" src="data:image/png;base64,{_bar_png(rep.metrics)}">
<h2>Reproducibility card</h2><pre>{html.escape(json.dumps(rep.card, ensure_ascii=False, indent=2))}</pre>
<h2>Samples</h2>{samples}</body></html>"""
    atomic_write_text(hpath, page)
    return jpath, hpath
