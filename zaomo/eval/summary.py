"""The figures and HTML pieces an end-of-loop report is made of (the quickstart's and `zaomo run`'s): data
counts, tokenizer size, parameter counts, formatted values, embedded curves. Kept here, below both
orchestrators, so that they report alike and neither imports the other."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

PAGE_STYLE = ("body{font-family:system-ui,'WenQuanYi Micro Hei',sans-serif;max-width:960px;margin:2em auto;"
              "padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px}")


def data_summary(report: Any) -> dict[str, Any]:
    """Counts of a DataReport (or its dict): read, kept, dropped by step, duplicates, quarantined."""
    d = asdict(report) if hasattr(report, "__dataclass_fields__") else dict(report)
    keep = ("read", "kept", "dropped", "deduplicated", "quarantined")
    return {k: d.get(k) for k in keep if k in d}


def tokenizer_summary(tok_dir: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    out: dict[str, Any] = {"vocab_size": len(tok), "path": str(tok_dir)}
    stats = Path(tok_dir) / "stats.json"
    if stats.exists():
        out.update(json.loads(stats.read_text(encoding="utf-8")))
    return out


def param_count(model_dir: Path) -> int:
    """Parameters stored in a directory's safetensors files (a model, or a LoRA adapter's own weights)."""
    from safetensors import safe_open

    n = 0
    for f in Path(model_dir).glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():
                shape = st.get_slice(k).get_shape()
                size = 1
                for d in shape:
                    size *= d
                n += size
    return n


def embed_png(path: Path) -> str:
    """An <img> with the PNG inline (the page stays one file), or nothing when the plot is missing."""
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "—"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def rows_html(rows: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
