"""`zaomo run`: the pipeline in order, each step skipped when it is up to date.

A step is up to date when the config keys that decide its result and the content hashes of everything it reads
are those of its last success, and what it wrote is still there unchanged. Steps link through the files they
write (the training step reads the data step's split), so a changed document reruns exactly the steps whose
inputs then change — a step whose upstream reran but wrote the same bytes is still skipped. `force` reruns a
step and everything after it; an interrupted run resumes: finished steps are up to date, the data step reuses
its finished shards and a training step continues its killed run from the last checkpoint.

Like demo/loop.py this is an orchestrator: it calls stages; no stage imports it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError
from ..config.pipeline import TRAIN_STAGES
from ..utils.io import atomic_write_json
from ..workspace import Workspace
from .pipeline import Step, plan_steps
from .state import State, config_hash, workspace_lock

Log = Callable[[str], None]


@dataclass
class Outcome:
    label: str
    kind: str
    status: str  # ran | up to date | would run | may run | failed
    reason: str = ""
    seconds: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    finished_at: str | None = None


@dataclass
class RecipeResult:
    workspace: str
    outcomes: list[Outcome]
    seconds: float
    dry_run: bool = False
    report_html: str | None = None
    report_json: str | None = None
    serve_command: str | None = None


def _flat(d: Any, key: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{key}.{k}" if key else str(k)))
        return out or {key: {}}
    return {key: d}


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = _flat(old), _flat(new)
    return [f"{k} {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def fingerprint(ws: Workspace, step: Step, state: State) -> dict[str, Any]:
    return {"config": step.config, "config_hash": config_hash(step.config),
            "inputs": {name: f"{value}@{state.digest(ws.path(value)) if value else 'none'}"
                       for name, value in step.inputs.items()}}


def why_run(ws: Workspace, step: Step, fp: dict[str, Any], prev: dict[str, Any] | None, state: State) -> str | None:
    """Why the step must run, in words, or None when it is up to date."""
    if prev is None:
        return "no successful run yet"
    old = prev["fingerprint"]
    if old["config_hash"] != fp["config_hash"]:
        changes = config_changes(old["config"], fp["config"])
        return "config changed: " + "; ".join(changes[:3]) + (f" (+{len(changes) - 3} more)" if len(changes) > 3
                                                             else "")
    changed = [f"{name} ({value.rsplit('@', 1)[0]})" for name, value in fp["inputs"].items()
               if old["inputs"].get(name) != value]
    changed += [f"{name} (no longer read)" for name in old["inputs"] if name not in fp["inputs"]]
    if changed:
        return "input changed: " + ", ".join(changed)
    for name, path in step.outputs.items():
        now = state.digest(ws.path(path))
        if now != prev["outputs"].get(name):
            return f"output {'missing' if now == 'missing' else 'changed since'}: {name} ({path})"
    return None


def _depends(ws: Workspace, step: Step, earlier: list[Step]) -> list[str]:
    """Labels of earlier steps that write something this step reads."""
    out = []
    reads = [ws.path(v).resolve() for v in step.inputs.values() if v]
    for e in earlier:
        writes = [ws.path(p).resolve() for p in e.outputs.values()]
        if any(r == w or r in w.parents or w in r.parents for r in reads for w in writes):
            out.append(e.label)
    return out


def _force_index(steps: list[Step], force: str | None) -> int | None:
    if force is None:
        return None
    for s in steps:
        if force in (s.label, s.kind):
            return s.index
    raise ConfigError(f"--force {force}: no such stage in pipeline; stages: {', '.join(s.label for s in steps)}")


def run_recipe(ws: Workspace, force: str | None = None, dry_run: bool = False, progress: bool = True,
               log: Log = print, on_stage: Callable[[int, Step, str], None] | None = None) -> RecipeResult:
    """Run (or with `dry_run`, only explain) the pipeline of `ws.cfg`; writes run_report.{html,json}."""
    t0 = time.perf_counter()
    steps = plan_steps(ws)  # every entry checked before any work
    start_forced = _force_index(steps, force)
    with nullcontext() if dry_run else workspace_lock(ws.root):
        outcomes = _run_steps(ws, steps, start_forced, force, dry_run, progress, log, on_stage)
    res = RecipeResult(str(ws.root), outcomes, round(time.perf_counter() - t0, 1), dry_run)
    if not dry_run:
        from .report import serve_command, write_report

        res.serve_command = serve_command(ws, steps)
        html_path, json_path = write_report(ws, steps, res)
        res.report_html, res.report_json = str(html_path), str(json_path)
    return res


def _run_steps(ws: Workspace, steps: list[Step], start_forced: int | None, force: str | None, dry_run: bool,
               progress: bool, log: Log, on_stage: Callable[[int, Step, str], None] | None) -> list[Outcome]:
    from .stages import resumable, run_step

    state = State.load(ws.root)
    outcomes: list[Outcome] = []
    will_run: set[str] = set()
    for step in steps:
        if on_stage:
            on_stage(step.index, step, "checking")
        fp = fingerprint(ws, step, state)
        prev = state.stages.get(step.label)
        forced = start_forced is not None and step.index >= start_forced
        reason = f"forced (--force {force})" if forced else why_run(ws, step, fp, prev, state)
        if reason is not None and not forced and step.kind in TRAIN_STAGES and (found := resumable(ws, step)):
            reason += f"; resumes the interrupted run {found[0]} from its {found[1]}"
        if dry_run:
            deps = [d for d in _depends(ws, step, steps[:step.index]) if d in will_run]
            if reason is not None:
                will_run.add(step.label)
                outcomes.append(Outcome(step.label, step.kind, "would run", reason))
            elif deps:
                will_run.add(step.label)
                outcomes.append(Outcome(step.label, step.kind, "may run",
                                        f"up to date now; reruns if {' or '.join(deps)} writes something new"))
            else:
                outcomes.append(Outcome(step.label, step.kind, "up to date", _since(prev)))
            continue
        if reason is None:
            outcomes.append(Outcome(step.label, step.kind, "up to date", _since(prev), prev.get("seconds", 0.0),
                                    prev.get("result", {}), prev.get("finished_at")))
            if on_stage:
                on_stage(step.index, step, "up to date")
            continue
        log(f"[bold cyan]▶ {step.label}[/bold cyan] — {reason}")
        if on_stage:
            on_stage(step.index, step, "running")
        start = time.perf_counter()
        try:
            result = run_step(ws, step, progress, log, fresh=forced)
        except BaseException:
            state.save()  # keep the hashes computed so far; the failed step stays out of date
            raise
        seconds = round(time.perf_counter() - start, 1)
        if step.kind == "eval":
            atomic_write_json(ws.path(step.outputs["report"]), result)
        finished = dt.datetime.now().isoformat(timespec="seconds")
        state.stages[step.label] = {"kind": step.kind, "fingerprint": fp, "result": result, "seconds": seconds,
                                    "finished_at": finished,
                                    "outputs": {n: state.digest(ws.path(p)) for n, p in step.outputs.items()}}
        state.save()
        outcomes.append(Outcome(step.label, step.kind, "ran", reason, seconds, result, finished))
        if on_stage:
            on_stage(step.index, step, "done")
    if not dry_run:
        state.save()  # the hash cache, also when every stage was up to date
    return outcomes


def _since(prev: dict[str, Any] | None) -> str:
    return f"unchanged since {prev['finished_at']}" if prev and prev.get("finished_at") else "unchanged"
