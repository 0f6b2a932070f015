"""`zaomo tokenizer train`, `zaomo train`, `zaomo export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOpt, SetOpt, WorkspaceOpt, console, friendly_errors, open_workspace


def register(app: typer.Typer) -> None:
    tok = typer.Typer(help="Tokenizer training.", no_args_is_help=True)
    app.add_typer(tok, name="tokenizer")

    @tok.command("train")
    @friendly_errors
    def tokenizer_train(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Train a byte-level BPE on the clean corpus (or copy a base model's tokenizer)."""
        from ..model.tokenizer import train_tokenizer

        ws = open_workspace(workspace, config, set_)
        out = train_tokenizer(ws)
        console.print(f"tokenizer saved to {out}")

    @app.command()
    @friendly_errors
    def train(
        resume: Annotated[str | None, typer.Option(help="continue this run id exactly, with its own config")] = None,
        resume_with_changes: Annotated[bool, typer.Option(
            help="with --resume: continue with the current config even where it differs from the run's")] = False,
        workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None, set_: SetOpt = None,
    ) -> None:
        """Pretrain, SFT or DPO (train.stage) with full, LoRA, QLoRA or prefix tuning (train.method)."""
        from ..train import run_training

        ws = open_workspace(workspace, config, set_)
        r = run_training(ws, resume=resume, resume_with_changes=resume_with_changes)
        console.print(f"run {r.run_id}: model saved to {r.model_dir}")
        for k, v in r.metrics.items():
            console.print(f"  {k}: {v}")

    @app.command()
    @friendly_errors
    def export(
        src: Path, dst: Path,
        format_: Annotated[str, typer.Option("--format", help="hf (a Hugging Face directory), gguf or onnx")] = "hf",
        gguf_type: Annotated[str, typer.Option(help="with --format gguf: f16, bf16, f32 or q8_0")] = "f16",
        int8: Annotated[bool, typer.Option(help="with --format onnx: also write model.int8.onnx")] = False,
    ) -> None:
        """Merge a LoRA adapter into its base and save a standalone Hugging Face directory, a GGUF file with an
        Ollama Modelfile (Llama and Qwen2 families), or ONNX with a KV cache (--int8: plus a quantised copy)."""
        from ..model.load import load_model, save_model

        if format_ not in ("hf", "gguf", "onnx"):
            raise typer.BadParameter(f"--format {format_!r}: use hf, gguf or onnx")
        if format_ == "onnx":
            from ..model.export_onnx import export_onnx

            model, tokenizer = load_model(src, device="cpu", dtype="fp32")
            export_onnx(model, tokenizer, dst, int8=int8)
            console.print(f"exported {src} → {Path(dst) / 'model.onnx'}" + (" and model.int8.onnx" if int8 else ""))
            return
        if format_ == "gguf":
            from ..model.export_gguf import export_gguf, write_modelfile

            model, tokenizer = load_model(src, device="cpu", dtype="fp32")
            path = export_gguf(model, tokenizer, Path(dst) / "model.gguf", ftype=gguf_type)
            write_modelfile(tokenizer, model, dst, path.name)
            console.print(f"exported {src} → {path} ({gguf_type}) and {Path(dst) / 'Modelfile'}"
                          f" (ollama create NAME -f {Path(dst) / 'Modelfile'})")
            return
        model, tokenizer = load_model(src, device="cpu")
        save_model(model, tokenizer, dst)
        console.print(f"exported {src} → {dst} (loads with AutoModelForCausalLM.from_pretrained)")
