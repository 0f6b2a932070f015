"""`zaomo iterate`: feedback → new training data → a candidate trained from the current version →
both evaluated on the workspace's eval suite → promoted only if the regression gate passes.

Every version keeps its lineage: parent (the version it was trained from), the run, the data file hashes
and the evaluation; a rejected candidate stays registered with status "rejected" and its comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import apply_overrides, validate
from ..eval import run_eval
from ..eval.compare import Comparison, compare
from ..records import ModelVersion
from ..train import run_training
from ..utils.io import iter_jsonl, write_jsonl
from ..workspace import Workspace
from .export import ExportResult, export_feedback


@dataclass
class IterateResult:
    promoted: bool
    candidate: dict[str, Any]
    current: dict[str, Any]
    comparison: Comparison
    export: ExportResult
    reports: dict[str, str] = field(default_factory=dict)


def _describe(mv: ModelVersion) -> dict[str, Any]:
    return {"id": mv.id, "name": mv.name, "version": mv.version, "path": mv.path, "status": mv.status}


def iterate(ws: Workspace, name: str | None = None, method: str | None = None, steps: int | None = None,
            lr: float | None = None, tasks: list[str] | None = None, replay: int | None = None,
            progress: bool = True, data: list[str] | None = None) -> IterateResult:
    """method: sft (full), lora, or dpo (LoRA on the feedback pairs); defaults from the `feedback:` section.
    `replay` old SFT records are mixed in with the feedback so the new version does not forget. `data`
    (default feedback.extra_data): more SFT files trained with the feedback, e.g. `zaomo kg import`'s pairs."""
    fc = ws.cfg.feedback
    method, steps = method or fc.method, steps or fc.steps
    lr, replay = lr or fc.lr, fc.replay if replay is None else replay
    if method not in ("sft", "lora", "dpo"):
        raise ValueError(f"method must be sft, lora or dpo; got {method!r}")
    name = name or ws.cfg.serve.model or ws.cfg.project.name
    current = ws.registry.get_model(name)
    if current is None:
        raise FileNotFoundError(f"no registered model named {name!r}; see `zaomo models`")
    exp = export_feedback(ws)
    if method == "dpo" and not exp.counts["dpo"]:
        raise ValueError("no new preference pairs in the feedback (a correction or a well-rated answer against a poorly rated one "
                         "to the same prompt); use method sft")
    extra = [ws.path(f) for f in (fc.extra_data if data is None else data)]
    if method != "dpo" and not exp.counts["sft"] and not extra:
        raise ValueError("no new usable feedback (corrections or well-rated answers) to train on")

    data_dir = ws.root / "data" / "feedback"
    if method == "dpo":
        train_file = exp.dpo_path
    else:
        records = list(iter_jsonl(exp.sft_path))
        for f in extra:
            records += list(iter_jsonl(f))
        old = ws.root / "data" / "sft" / "train.jsonl"
        if replay and old.exists():
            records += [r for r in iter_jsonl(old) if not r.get("open_book")][:replay]
        train_file = data_dir / f"iterate-{current.version + 1}.jsonl"
        write_jsonl(train_file, records)
    out_name = f"{name}-v{len(ws.registry.models(name)) + 1}"
    overrides = [f"train.stage={'dpo' if method == 'dpo' else 'sft'}",
                 f"train.method={'full' if method == 'sft' else 'lora'}", f"train.max_steps={steps}",
                 f"train.lr={lr}", f"train.init_from={ws.path(current.path)}", f"train.train_file={train_file}",
                 "train.val_file=null", f"train.output_name={out_name}", "train.warmup_steps=0",
                 f"train.eval_every={steps}", f"train.save_every={steps}"]
    saved_cfg = ws.cfg
    ws.cfg = validate(apply_overrides(ws.cfg.model_dump(mode="json"), overrides), "iterate")
    try:
        res = run_training(ws, progress=progress, register_as=name)
    finally:
        ws.cfg = saved_cfg
    tasks = tasks or [t for t in ws.cfg.eval.tasks if t in ("perplexity", "qa", "choice")]
    old_rep = run_eval(ws, target=str(ws.path(current.path)), tasks=tasks, progress=progress)
    new_rep = run_eval(ws, target=str(res.model_dir), tasks=tasks, progress=progress)
    cmp = compare(old_rep, new_rep, ws.cfg.eval.gates, ws.cfg.eval.bootstrap)
    cand = next(mv for mv in ws.registry.models(name) if mv.id == res.version_id)
    summary = {"metrics": new_rep.metrics, "report": str(new_rep.path), "against": current.version,
               "gate_passed": cmp.passed, "failures": cmp.failures}
    ws.registry.set_model_status(cand.id, "promoted" if cmp.passed else "rejected", eval=summary)
    cand = next(mv for mv in ws.registry.models(name) if mv.id == res.version_id)
    return IterateResult(cmp.passed, _describe(cand), _describe(current), cmp, exp,
                         {"current": str(old_rep.path), "candidate": str(new_rep.path)})


def promote(ws: Workspace, ref: str) -> ModelVersion:
    """Make NAME:VERSION the served version (the previous one becomes retired)."""
    name, _, ver = ref.partition(":")
    if not ver.isdigit():
        raise ValueError(f"expected NAME:VERSION, e.g. {name or 'handbook-chat'}:2; got {ref!r}")
    mv = ws.registry.get_model(name, int(ver))
    if mv is None:
        raise FileNotFoundError(f"no model version {ref}; see `zaomo models`")
    ws.registry.set_model_status(mv.id, "promoted")
    return ws.registry.get_model(name, int(ver))


def rollback(ws: Workspace, name: str) -> ModelVersion:
    """Promote the version that was served before the current one."""
    versions = ws.registry.models(name)
    current = next((m for m in reversed(versions) if m.status == "promoted"), None)
    if current is None:
        raise ValueError(f"no promoted version of {name!r} to roll back from")
    earlier = [m for m in versions if m.version < current.version and m.status in ("retired", "promoted")]
    if not earlier:
        raise ValueError(f"{name}:{current.version} has no earlier served version to roll back to")
    target = earlier[-1]
    ws.registry.set_model_status(target.id, "promoted")
    ws.registry.set_model_status(current.id, "rolled-back")
    return ws.registry.get_model(name, target.version)

