"""`zaomo doctor` and `zaomo plan`: what this machine can do, and which route to take."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        workspace: WorkspaceOpt = Path("."),
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Python, torch, devices, memory, disk, extras — and the largest model that fits here."""
        from ..plan.hardware import detect_hardware
        from ..plan.memory import largest_model_that_fits

        hw = detect_hardware(workspace)
        mem = hw.accelerator_memory_gb
        fits = {m: largest_model_that_fits(mem, m) for m in ("full", "lora", "qlora", "inference")}
        if hw.device != "cuda":
            fits["qlora"] = 0.0  # bitsandbytes 4-bit training needs CUDA
            fits["full"] = largest_model_that_fits(mem, "full-fp32")
        if as_json:
            console.print_json(json.dumps({**asdict(hw), "largest_model": fits}))
            return
        t = Table("check", "value", title="zaomo doctor")
        t.add_row("python", hw.python)
        t.add_row("os", hw.os)
        t.add_row("torch", hw.torch or "[red]not installed[/red]")
        t.add_row("device", hw.device + (f" ({', '.join(hw.gpus)})" if hw.gpus else ""))
        t.add_row("bf16", "yes" if hw.bf16 else "no")
        t.add_row("GPU memory", f"{hw.gpu_memory_gb:.1f} GB" if hw.gpus else "—")
        t.add_row("host memory / cores", f"{hw.host_memory_gb:.1f} GB / {hw.cpu_cores}")
        t.add_row("free disk", f"{hw.disk_free_gb:.1f} GB")
        for name, ok in hw.extras.items():
            t.add_row(f"extra: {name}", "[green]yes[/green]" if ok else "no")
        for m, n in fits.items():
            label = {"full": "full training", "inference": "inference (16-bit)"}.get(m, m)
            t.add_row(f"largest model: {label}", f"{n / 1e9:.2f} B" if n else "none")
        console.print(t)

    @app.command()
    @friendly_errors
    def plan(
        goal: Annotated[str, typer.Option(help="domain-qa | writing | code | translation | chat")] = "domain-qa",
        docs_chars: Annotated[int | None, typer.Option(help="characters of documents (measured if omitted)")] = None,
        qa_pairs: Annotated[int | None, typer.Option(help="QA/chat pairs (measured if omitted)")] = None,
        tokens: Annotated[int | None, typer.Option(help="tokens of text, if known")] = None,
        gpu_memory_gb: Annotated[float | None, typer.Option(help="plan for a GPU of this size instead")] = None,
        hours: Annotated[float | None, typer.Option(help="time budget")] = None,
        from_scratch: Annotated[bool, typer.Option(help="train a model from scratch")] = False,
        apply: Annotated[bool, typer.Option(help="write the recipe into zaomo.yaml")] = False,
        workspace: WorkspaceOpt = Path("."),
        config: ConfigOpt = None,
        set_: SetOpt = None,
    ) -> None:
        """需求分析: recommend RAG, LoRA/QLoRA, continued pretraining or from scratch, with estimates."""
        from ..plan import detect_hardware, inventory, make_plan
        from ..plan.hardware import peak_tflops_for
        from ..plan.recommend import apply_plan, render_plan

        ws = open_workspace(workspace, config, set_)
        inv = inventory(ws)
        if docs_chars is not None:
            inv.documents_chars = docs_chars
        if qa_pairs is not None:
            inv.qa_pairs = qa_pairs
        if tokens is not None:
            inv.tokens = tokens
        hw = detect_hardware(ws.root)
        if gpu_memory_gb:
            hw.device, hw.gpu_memory_gb, hw.gpus = "cuda", gpu_memory_gb, hw.gpus or ["assumed GPU"]
            hw.peak_tflops = peak_tflops_for(hw.gpus[0]) or 312.0
            hw.bf16 = True
        p = make_plan(goal, inv, hw, budget_hours=hours, from_scratch=from_scratch)
        console.print(render_plan(p), markup=False)
        if apply:
            changed = apply_plan(ws, p)
            console.print(f"wrote {ws.config_path}: changed {', '.join(changed) or 'nothing'}")
