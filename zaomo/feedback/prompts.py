"""Versioned prompts: add, show, diff, evaluate, promote and roll back a system prompt the way a model version
is (`feedback.iterate`). A running server picks up a promote or a rollback on its next request
(`serve.prompts.PromptCache`); eval reports and audit rows name the version used.

Semantics, mirroring model versions: a new version is a `candidate` whose parent is the name's newest
version; promoting NAME:VER retires the name's previously promoted version; rollback promotes the version that
was served before the current one (the retired version promoted most recently) and marks the current one
`rolled-back`, so it is never rolled back to again.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.prompting import check_template, parse_ref
from ..records import PromptVersion
from ..workspace import Workspace

NAME_RE = re.compile(r"^[^\s:]{1,128}$")
GENERATION_TASKS = ("qa", "judge", "safety")  # the tasks a prompt changes (the others read raw text)


def add_prompt(ws: Workspace, name: str, text: str | None = None, template: str | None = None,
               model: str | None = None, note: str | None = None) -> PromptVersion:
    """Register the next version of prompt NAME as a candidate (promote it to serve it)."""
    if not NAME_RE.match(name):
        raise ValueError(f"prompt name {name!r}: use 1-128 characters without spaces or ':' (':' separates "
                         "the version, as in support:2)")
    text = text.strip() if text else None
    if not text and not template:
        raise ValueError("a prompt needs a system text (--text or --file) or a template (--template)")
    check_template(template)
    known = ws.registry.prompts(name)
    return ws.registry.register_prompt(name, text=text, template=template, model=model, note=note,
                                       parent_id=known[-1].id if known else None)


def read_text(file: Path | None, text: str | None) -> str:
    """The prompt text from exactly one of --file and --text."""
    if (file is None) == (text is None):
        raise ValueError("give the prompt as exactly one of --file F or --text T")
    if file is not None:
        if not file.is_file():
            raise FileNotFoundError(f"--file {file}: no such file")
        return file.read_text(encoding="utf-8")
    return text or ""


def resolve(ws: Workspace, ref: str) -> PromptVersion:
    """NAME:VER, or NAME for its promoted version (else its newest)."""
    name, ver = parse_ref(ref)
    pv = ws.registry.get_prompt(name, ver)
    if pv is None:
        known = ws.registry.prompts(name)
        hint = f"versions of {name}: {', '.join(str(p.version) for p in known)}" if known else \
            f"add it with `zaomo prompts add {name} --text ...`"
        raise FileNotFoundError(f"no prompt {ref}; {hint} (see `zaomo prompts list`)")
    return pv


def promote(ws: Workspace, ref: str) -> PromptVersion:
    """Serve NAME:VERSION from now on; the name's previously promoted version becomes retired."""
    name, ver = parse_ref(ref)
    if ver is None:
        raise ValueError(f"promote needs an explicit version, e.g. {name}:2 (see `zaomo prompts list {name}`)")
    pv = resolve(ws, ref)
    ws.registry.set_prompt_status(pv.id, "promoted")
    return resolve(ws, ref)


def rollback(ws: Workspace, name: str) -> PromptVersion:
    """Serve again the version that was served before the current one."""
    versions = ws.registry.prompts(name)
    current = next((p for p in versions if p.status == "promoted"), None)
    if current is None:
        raise ValueError(f"no promoted version of prompt {name!r} to roll back from; promote one with "
                         f"`zaomo prompts promote {name}:VERSION`")
    served = [p for p in versions if p.status == "retired" and p.promoted_at is not None]
    if not served:
        raise ValueError(f"{name}:{current.version} has no earlier served version to roll back to; promote "
                         f"another version with `zaomo prompts promote {name}:VERSION`")
    target = max(served, key=lambda p: p.promoted_at)
    ws.registry.set_prompt_status(target.id, "promoted")
    ws.registry.set_prompt_status(current.id, "rolled-back")
    return resolve(ws, f"{name}:{target.version}")


def describe(pv: PromptVersion) -> dict[str, Any]:
    return {"name": pv.name, "version": pv.version, "status": pv.status, "model": pv.model, "text": pv.text,
            "template": pv.template, "note": pv.note, "parent_id": pv.parent_id, "eval": pv.eval,
            "created_at": str(pv.created_at)[:19], "promoted_at": str(pv.promoted_at)[:19] if pv.promoted_at else None}


def diff(ws: Workspace, a: str, b: str) -> str:
    """A unified diff of two versions' system text and template ('' when they are the same)."""
    pa, pb = resolve(ws, a), resolve(ws, b)
    out = []
    for field in ("text", "template", "model"):
        x, y = getattr(pa, field) or "", getattr(pb, field) or ""
        out += difflib.unified_diff(x.splitlines(), y.splitlines(), f"{pa.name}:{pa.version} {field}",
                                    f"{pb.name}:{pb.version} {field}", lineterm="")
    return "\n".join(out)


@dataclass
class PromptEval:
    prompt: PromptVersion
    report: Any  # eval.EvalReport


def eval_prompt(ws: Workspace, ref: str, model: str | None = None, tasks: list[str] | None = None,
                progress: bool = True) -> PromptEval:
    """Evaluate NAME[:VER] with MODEL (default: the prompt's model, else serve.model) on the generation tasks
    and store the summary on the prompt version, beside the report path."""
    from ..eval import run_eval

    pv = resolve(ws, ref)
    tasks = tasks or [t for t in ws.cfg.eval.tasks if t in GENERATION_TASKS]
    if not tasks:
        raise ValueError(f"eval.tasks has none of the tasks a prompt changes ({', '.join(GENERATION_TASKS)}); "
                         "pass --tasks qa (needs eval.qa_file)")
    rep = run_eval(ws, target=model or pv.model, tasks=tasks, progress=progress, prompt=pv)
    summary = {"metrics": {k: v for k, v in rep.metrics.items() if isinstance(v, float)}, "model": rep.model,
               "tasks": tasks, "run_id": rep.run_id, "report": str(rep.path)}
    ws.registry.set_prompt_eval(pv.id, summary)
    return PromptEval(resolve(ws, f"{pv.name}:{pv.version}"), rep)
