"""`zaomo iterate`: feedback → new training data → a candidate trained from the current version →
both evaluated on the workspace's eval suite → promoted only if the regression gate passes.

Against forgetting, a candidate trains with replayed old SFT records and general data, and the gate also
compares general ability (held-out general text, multiple choice), so a candidate that learns the new data but
loses what it knew is rejected with the reason.

Every version keeps its lineage: parent (the version it was trained from), the run, the data file hashes
and the evaluation; a rejected candidate stays registered with status "rejected" and its comparison.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..config import apply_overrides, validate
from ..eval import run_eval
from ..eval.compare import Comparison, compare
from ..eval.runner import general_text_file
from ..records import ModelVersion
from ..train import run_training
from ..utils.io import iter_jsonl, write_jsonl
from ..utils.log import get_logger
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
    data_mix: dict[str, int] = field(default_factory=dict)  # records per source in the candidate's training data


def _describe(mv: ModelVersion) -> dict[str, Any]:
    return {"id": mv.id, "name": mv.name, "version": mv.version, "path": mv.path, "status": mv.status}


PAIR_METHODS = ("dpo", "orpo", "simpo")
METHODS = ("sft", "lora", *PAIR_METHODS, "kto")


def general_records(ws: Workspace, n: int, seed: int) -> list[dict]:
    """`n` general records to replay against forgetting: `feedback.general_file` (plain text or chat) or the
    clean pretraining text, drawn at random (seeded) from the whole file. Plain text trains as language
    modelling (loss on every token), as InstructGPT's PPO-ptx mixes pretraining data back in. Without clean text
    and without a general_file there is nothing to replay (a warning; the data mix records 0)."""
    if n <= 0:
        return []
    fc = ws.cfg.feedback
    src = ws.path(fc.general_file) if fc.general_file else ws.clean_dir / "train.jsonl"
    if not src.exists() and not fc.general_file:  # e.g. a hub base and no `zaomo data`: the gate still guards
        get_logger("zaomo.feedback").warning(f"no general replay: {src} does not exist (run `zaomo data` or set "
                                             "feedback.general_file)")
        return []
    rows = [r for r in iter_jsonl(src) if r.get("text") or r.get("messages")]
    if not rows:
        raise ValueError(f"{src}: no records with text or messages for general replay (feedback.general_file)")
    pick = random.Random(seed).sample(range(len(rows)), min(n, len(rows)))
    return [{"id": f"general-{i}", **({"messages": rows[i]["messages"]} if rows[i].get("messages")
                                      else {"text": rows[i]["text"]})} for i in sorted(pick)]


def iterate(ws: Workspace, name: str | None = None, method: str | None = None, steps: int | None = None,
            lr: float | None = None, tasks: list[str] | None = None, replay: int | None = None,
            progress: bool = True, data: list[str] | None = None,
            general_share: float | None = None) -> IterateResult:
    """method: sft (full), lora, or LoRA on the feedback's preferences (dpo, orpo, simpo: pairs; kto: every
    thumbs up/down on its own); defaults from the `feedback:` section. Against forgetting, SFT candidates train
    with `replay` old SFT records and a `general_share` of general data (the clean pretraining text, or
    feedback.general_file), and every candidate must pass the general-ability gate (feedback.general_gates: e.g.
    bits per character on held-out general text, multiple choice) besides eval.gates. `data` (default
    feedback.extra_data): more SFT files trained with the feedback, e.g. `zaomo kg import`'s pairs."""
    fc = ws.cfg.feedback
    method, steps = method or fc.method, steps or fc.steps
    lr, replay = lr or fc.lr, fc.replay if replay is None else replay
    share = fc.general_share if general_share is None else general_share
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not 0 <= share < 1:
        raise ValueError(f"general_share must be in [0, 1); got {share}")
    name = name or ws.cfg.serve.model or ws.cfg.project.name
    current = ws.registry.get_model(name)
    if current is None:
        raise FileNotFoundError(f"no registered model named {name!r}; see `zaomo models`")
    if share and fc.general_file and not ws.path(fc.general_file).exists():  # before export marks feedback used
        raise FileNotFoundError(f"feedback.general_file: {ws.path(fc.general_file)} not found (or "
                                "feedback.general_share=0 to train without general replay)")
    exp = export_feedback(ws)
    if method in PAIR_METHODS and not exp.counts["dpo"]:
        raise ValueError("no new preference pairs in the feedback (a correction or a well-rated answer against a "
                         "poorly rated one to the same prompt); use method kto (unpaired ratings) or sft")
    if method == "kto" and not exp.counts["kto"]:
        raise ValueError("no rated answers in the feedback for KTO; use method sft")
    extra = [ws.path(f) for f in (fc.extra_data if data is None else data)]
    if method in ("sft", "lora") and not exp.counts["sft"] and not extra:
        raise ValueError("no new usable feedback (corrections or well-rated answers) to train on")

    data_dir = ws.root / "data" / "feedback"
    mix: dict[str, int] = {}
    if method in PAIR_METHODS:
        train_file = exp.dpo_path
    elif method == "kto":
        train_file = exp.kto_path
    else:
        records = list(iter_jsonl(exp.sft_path))
        mix["feedback"] = len(records)
        for f in extra:
            more = list(iter_jsonl(f))
            records += more
            mix[str(f)] = len(more)
        old = ws.root / "data" / "sft" / "train.jsonl"
        if replay and old.exists():
            kept = [r for r in iter_jsonl(old) if not r.get("open_book")][:replay]
            records += kept
            mix["replay_sft"] = len(kept)
        general = general_records(ws, round(len(records) * share / (1 - share)), ws.cfg.project.seed)
        records += general
        mix["replay_general"] = len(general)
        train_file = data_dir / f"iterate-{current.version + 1}.jsonl"
        write_jsonl(train_file, records)
    out_name = f"{name}-v{len(ws.registry.models(name)) + 1}"
    stage = method if method in (*PAIR_METHODS, "kto") else "sft"
    overrides = [f"train.stage={stage}", f"train.method={'full' if method == 'sft' else 'lora'}",
                 f"train.max_steps={steps}", f"train.lr={lr}", f"train.init_from={ws.path(current.path)}",
                 f"train.train_file={train_file}", "train.val_file=null", f"train.output_name={out_name}",
                 "train.warmup_steps=0", f"train.eval_every={steps}", f"train.save_every={steps}", "train.keep=last"]
    saved_cfg = ws.cfg
    ws.cfg = validate(apply_overrides(ws.cfg.model_dump(mode="json"), overrides), "iterate")
    try:
        res = run_training(ws, progress=progress, register_as=name)
    finally:
        ws.cfg = saved_cfg
    tasks = tasks or [t for t in ws.cfg.eval.tasks if t in ("perplexity", "qa", "choice")]
    general_gates = dict(fc.general_gates)
    for k in [*ws.cfg.eval.gates, *general_gates]:  # every gate runs the task it reads, where there is data
        task = k.partition(".")[0]
        if task not in tasks and _task_has_data(ws, task):
            tasks = [*tasks, task]
        if task not in tasks:
            general_gates.pop(k, None)
    old_rep = run_eval(ws, target=str(ws.path(current.path)), tasks=tasks, progress=progress)
    new_rep = run_eval(ws, target=str(res.model_dir), tasks=tasks, progress=progress)
    cmp = compare(old_rep, new_rep, {**ws.cfg.eval.gates, **general_gates}, ws.cfg.eval.bootstrap)
    cmp.failures = [f"general ability (forgetting): {f}" if f.partition(":")[0] in general_gates else f
                    for f in cmp.failures]
    cand = next(mv for mv in ws.registry.models(name) if mv.id == res.version_id)
    summary = {"metrics": new_rep.metrics, "report": str(new_rep.path), "against": current.version,
               "gate_passed": cmp.passed, "failures": cmp.failures, "data_mix": mix, "method": method}
    ws.registry.set_model_status(cand.id, "promoted" if cmp.passed else "rejected", eval=summary)
    cand = next(mv for mv in ws.registry.models(name) if mv.id == res.version_id)
    return IterateResult(cmp.passed, _describe(cand), _describe(current), cmp, exp,
                         {"current": str(old_rep.path), "candidate": str(new_rep.path)}, mix)


def _task_has_data(ws: Workspace, task: str) -> bool:
    e = ws.cfg.eval
    if task == "perplexity":
        return general_text_file(ws).exists()
    f = {"qa": e.qa_file, "choice": e.choice_file}.get(task)
    return bool(f) and ws.path(f).exists()


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

