"""The data report: report.json and a self-contained report.html with plots and samples of rejects."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from ..utils.io import atomic_write_json, atomic_write_text


def _png(lengths_kept: list[int], lengths_dropped: list[int], langs: dict[str, int]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    bins = 30
    if lengths_kept:
        ax[0].hist(lengths_kept, bins=bins, alpha=0.7, label="kept")
    if lengths_dropped:
        ax[0].hist(lengths_dropped, bins=bins, alpha=0.7, label="dropped")
    ax[0].set_xlabel("characters per record")
    ax[0].set_ylabel("records")
    ax[0].legend()
    ax[1].bar(list(langs), list(langs.values()))
    ax[1].set_title("script of kept records")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(out_dir: Path, summary: dict[str, Any], samples: dict[str, list[dict]],
                 lengths_kept: list[int], lengths_dropped: list[int], langs: dict[str, int]) -> tuple[Path, Path]:
    jpath, hpath = out_dir / "report.json", out_dir / "report.html"
    atomic_write_json(jpath, {**summary, "samples": samples})
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in summary["dropped"].items())
    sample_html = ""
    for step, items in samples.items():
        lis = "".join(f"<li><code>{html.escape(s['source'])}</code> — {html.escape(s['reason'])}<br>"
                      f"<small>{html.escape(s['text'][:300])}</small></li>" for s in items)
        sample_html += f"<h3>{html.escape(step)}</h3><ul>{lis}</ul>"
    img = _png(lengths_kept, lengths_dropped, langs)
    page = f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>zaomo data report</title>
<style>body{{font-family:system-ui,'WenQuanYi Micro Hei',sans-serif;max-width:960px;margin:2em auto;padding:0 1em}}
td{{border:1px solid #ccc;padding:3px 8px}}table{{border-collapse:collapse}}</style></head><body>
<h1>Data report</h1>
<p>read {summary['read']} · kept {summary['kept']} (train {summary['train']}, val {summary['val']}) ·
quarantined {summary['quarantined']} · duplicates removed {summary['deduplicated']}</p>
<h2>Dropped, by step</h2><table>{rows}</table>
<h2>Lengths and languages</h2><img alt="histograms" src="data:image/png;base64,{img}" style="max-width:100%">
<h2>Samples of what each step removed</h2>{sample_html}
<h2>Duplicate clusters</h2><pre>{html.escape(str(summary.get('clusters', {}))[:5000])}</pre>
</body></html>"""
    atomic_write_text(hpath, page)
    return jpath, hpath


def amend_counts(out_dir: Path, split: str, step: str, moved: int) -> None:
    """Records moved from a split to quarantine after the pipeline ran (by a later decontamination): report.json's
    counts follow, so read = kept + quarantined + deduplicated still holds."""
    import json

    path = out_dir / "report.json"
    if not path.exists() or not moved:
        return
    d = json.loads(path.read_text(encoding="utf-8"))
    d["kept"] -= moved
    d[split] -= moved
    d["quarantined"] += moved
    d["dropped"][step] = d["dropped"].get(step, 0) + moved
    atomic_write_json(path, d)
