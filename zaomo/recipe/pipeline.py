"""The recipe as concrete steps: each `pipeline:` entry resolved against the workspace — its unique label, the
config it runs with (the file's, then the entry's own keys, then what the chain fixes: a training stage starts
from the model of the one before it), what it reads, what it writes, and which config keys decide its result.

Reads and writes are workspace paths, so a step's inputs are the files its upstream steps wrote: hashing them
links the chain without any step knowing the others. Everything a step needs is checked here, before any
work, with the entry (`pipeline[i]`) and the fix named.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, ZaomoConfig, validate
from ..config.pipeline import DEFAULT_DRILLS, PREF_STAGES, TRAIN_STAGES, PipelineStage
from ..workspace import Workspace

SINGLE = ("data", "tokenizer", "kb", "eval")  # stages that make the workspace's one artifact of their kind
# Keys that change how fast a stage runs or where it reports, not what it makes.
NOT_RESULT = {"data": ("workers", "engine", "ray_address", "shard_mb", "crawl"),
              "kb": ("top_k", "context_tokens", "unsupported"),
              "train": ("log_every", "tensorboard", "compile", "pad_multiple"),
              "eval": ("cloze", "generator", "target", "speed", "judge", "bootstrap", "gates", "api_key_env")}
RECIPE_DIR = Path("runs") / "recipe"


@dataclass
class Step:
    """One pipeline entry, resolved."""

    index: int
    label: str
    kind: str
    entry: PipelineStage
    cfg: ZaomoConfig
    parent: str | None = None  # label of the training step whose model this step starts from / evaluates
    model: str | None = None  # eval: the model under test (workspace path, hub id), None = retrieval only
    drills: int = 0  # sft: reading drills made from the training documents
    chat_data: str | None = None  # sft: the user's own chat data, mixed with the drills
    inputs: dict[str, str] = field(default_factory=dict)  # name → workspace path or literal (hub id)
    outputs: dict[str, str] = field(default_factory=dict)  # name → workspace path
    config: dict[str, Any] = field(default_factory=dict)  # the config keys that decide the result

    @property
    def where(self) -> str:
        return f"pipeline[{self.index}] ({self.label})"


def _put(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _labels(entries: list[PipelineStage]) -> list[str]:
    named = {e.name for e in entries if e.name}
    seen: dict[str, int] = {}
    out = []
    for i, e in enumerate(entries):
        if e.name:
            out.append(e.name)
            continue
        seen[e.stage] = seen.get(e.stage, 0) + 1
        label = e.stage if seen[e.stage] == 1 else f"{e.stage}-{seen[e.stage]}"
        if label in named:
            raise ConfigError(f"pipeline[{i}]: stage '{e.stage}' would be labelled '{label}', which another entry "
                              "is named; give this entry its own name: {" + e.stage + ": {name: …}}")
        out.append(label)
    return out


def _local(ws: Workspace, ref: str | None) -> str | None:
    """A model/tokenizer reference as a workspace path when it is a local folder or a registered name."""
    if not ref:
        return None
    p = ws.path(ref)
    if p.exists():
        return str(p)
    try:
        return str(ws.resolve_model(ref))
    except FileNotFoundError:
        return ref  # a hub id: hashed as its name


def _section(cfg: dict, name: str) -> dict:
    skip = NOT_RESULT.get(name, ())
    return {k: v for k, v in cfg[name].items() if k not in skip}


def plan_steps(ws: Workspace) -> list[Step]:
    """The pipeline of `ws.cfg` as steps, checked; raises ConfigError naming the entry and the fix."""
    entries = list(ws.cfg.pipeline)
    if not entries:
        raise ConfigError("pipeline: empty; list the stages to run, e.g. pipeline: [data, kb, sft(lora), eval] "
                          "(docs/run.md)")
    labels = _labels(entries)
    for kind in SINGLE:
        where = [i for i, e in enumerate(entries) if e.stage == kind]
        if len(where) > 1:
            raise ConfigError(f"pipeline[{where[1]}]: a second '{kind}' stage; a workspace has one {kind} "
                              f"artifact, so list '{kind}' once")
    base = ws.cfg.model_dump(mode="json")
    steps: list[Step] = []
    last_model: tuple[str, str] | None = None  # (label, models/<name>) of the latest training step
    have = {e.stage for e in entries}
    for i, (e, label) in enumerate(zip(entries, labels)):
        raw = copy.deepcopy(base)
        for key, value in e.set.items():
            _put(raw, key, value)
        step = Step(i, label, e.stage, e, ws.cfg)
        if e.stage in TRAIN_STAGES:
            _chain(ws, step, raw, base, last_model)
        step.cfg = validate(raw, f"{step.where}, the file's config with the entry's keys")
        _wire(ws, step, have, last_model)
        if e.stage in TRAIN_STAGES:
            last_model = (label, f"models/{step.cfg.train.output_name}")
        steps.append(step)
    return steps


def _chain(ws: Workspace, step: Step, raw: dict, base: dict, last_model: tuple[str, str] | None) -> None:
    """What the pipeline fixes for a training step: its objective, the model it starts from (the previous
    training step's), its output name, and its data files. The file's `train.train_file`/`val_file` are the
    SFT/DPO data (never pretraining text, which is the clean split unless the entry names a file)."""
    e, t = step.entry, raw["train"]
    own = {k: e.set[f"train.{k}"] for k in ("train_file", "val_file") if f"train.{k}" in e.set}
    if e.stage != "pretrain":
        own = {k: own.get(k, base["train"][k]) for k in ("train_file", "val_file")}
    t["stage"] = e.stage
    if last_model and "train.init_from" not in e.set:
        t["init_from"] = last_model[1]
        step.parent = last_model[0]
    if "train.output_name" not in e.set:
        t["output_name"] = f"{raw['project']['name']}-{step.label}"
    t["train_file"], t["val_file"] = own.get("train_file"), own.get("val_file")
    if e.stage == "sft":
        default = "data/sft/train.jsonl"
        step.chat_data = own.get("train_file") or (default if ws.path(default).exists() else None)
        step.drills = DEFAULT_DRILLS if e.drills is None else e.drills
        t["train_file"] = str(RECIPE_DIR / f"{step.label}.train.jsonl")  # chat data + drills, written by the step
    elif e.stage in PREF_STAGES:
        t["train_file"] = t["train_file"] or "data/prefs/train.jsonl"


def _wire(ws: Workspace, step: Step, have: set[str], last_model: tuple[str, str] | None) -> None:
    """Inputs, outputs and result-deciding config of one step; what it needs but cannot have is an error."""
    cfg = step.cfg
    raw = cfg.model_dump(mode="json")
    clean = Path(cfg.data.output_dir)
    tok_dir = cfg.tokenizer.output_dir
    if step.kind == "data":
        for n, p in enumerate(cfg.data.inputs):
            _exists(ws, step, f"data.inputs[{n}]", p)
            step.inputs[f"data.inputs[{n}]"] = p
        step.inputs["eval sets (decontamination)"] = "data/eval"
        step.outputs = {s: str(clean / f"{s}.jsonl") for s in ("train", "val", "test")}
        step.outputs["domain questions"] = cfg.eval.cloze.file
        step.config = {"data": _section(raw, "data"), "safety": raw["safety"], "eval.cloze": raw["eval"]["cloze"],
                       "eval.generator": raw["eval"]["generator"], "project.seed": cfg.project.seed}
    elif step.kind == "tokenizer":
        if cfg.tokenizer.kind == "bpe":
            _need_clean(ws, step, have, "a byte-level BPE is trained on the clean training split")
            step.inputs["clean train split"] = str(clean / "train.jsonl")
        else:
            step.inputs["pretrained tokenizer"] = _local(ws, cfg.tokenizer.path or cfg.model.base) or ""
        step.outputs = {"tokenizer": tok_dir}
        step.config = {"tokenizer": raw["tokenizer"], "model.seq_len": cfg.model.seq_len,
                       "model.base": cfg.model.base}
    elif step.kind == "kb":
        for n, p in enumerate(cfg.kb.sources):
            _exists(ws, step, f"kb.sources[{n}]", p)
            step.inputs[f"kb.sources[{n}]"] = p
        if cfg.kb.tokenizer == "auto" and ("tokenizer" in have or (ws.tokenizer_dir / "tokenizer.json").exists()):
            step.inputs["tokenizer"] = tok_dir
        elif cfg.kb.tokenizer and cfg.kb.tokenizer != "auto":
            step.inputs["tokenizer"] = cfg.kb.tokenizer
        step.outputs = {"knowledge base": str(Path("kb") / cfg.kb.name / "chunks.jsonl")}
        step.config = {"kb": _section(raw, "kb"), "safety": raw["safety"]}
    elif step.kind in TRAIN_STAGES:
        _wire_train(ws, step, have, last_model, raw)
    elif step.kind == "eval":
        if last_model:
            step.parent, step.model = last_model[0], last_model[1]
        elif cfg.model.base:
            step.model = _local(ws, cfg.model.base)
        if step.model:
            step.inputs["model under test"] = step.model
        if "kb" in have or (ws.kb_dir() / "chunks.jsonl").exists():
            step.inputs["knowledge base"] = str(Path("kb") / cfg.kb.name / "chunks.jsonl")
        if "data" not in have and not ws.path(cfg.eval.cloze.file).exists():
            raise ConfigError(f"{step.where}: the domain questions ({cfg.eval.cloze.file}) are built by the data "
                              "stage; put 'data' before 'eval' in pipeline")
        step.inputs["domain questions"] = cfg.eval.cloze.file
        step.inputs["validation split"] = str(clean / "val.jsonl")
        if cfg.eval.safety_file:
            step.inputs["eval.safety_file"] = cfg.eval.safety_file
        step.outputs = {"report": str(RECIPE_DIR / f"{step.label}.json")}
        step.config = {"eval": _section(raw, "eval"), "kb": {k: raw["kb"][k] for k in
                       ("name", "top_k", "context_tokens", "unsupported", "min_score")},
                       "model.dtype": cfg.model.dtype}


def _exists(ws: Workspace, step: Step, key: str, path: str) -> None:
    if not path.startswith("hf:") and not ws.path(path).exists():
        raise ConfigError(f"{step.where}: {key}: {ws.path(path)} does not exist; put your documents there, or point "
                          f"{key.split('[')[0]} at them (`zaomo init DIR --docs FOLDER` writes both)")


def _need_clean(ws: Workspace, step: Step, have: set[str], why: str) -> None:
    if "data" not in have and not (ws.clean_dir / "train.jsonl").exists():
        raise ConfigError(f"{step.where}: {why}, and there is none: put 'data' before it in pipeline (or run "
                          "`zaomo data run` first)")


def _wire_train(ws: Workspace, step: Step, have: set[str], last_model: tuple[str, str] | None, raw: dict) -> None:
    cfg, t = step.cfg, step.cfg.train
    start = t.init_from or cfg.model.base
    if last_model and t.init_from == last_model[1]:
        step.inputs["starting model"] = last_model[1]
    elif start:
        step.inputs["starting model"] = _local(ws, start) or start
    elif "tokenizer" in have or (ws.tokenizer_dir / "tokenizer.json").exists():
        step.inputs["tokenizer (new model)"] = cfg.tokenizer.output_dir
    else:
        raise ConfigError(f"{step.where}: a new model needs a tokenizer: put 'tokenizer' before it in pipeline, "
                          "or start from a model (model.base or train.init_from)")
    if step.kind == "pretrain":
        if not t.train_file:
            _need_clean(ws, step, have, "pretraining reads the clean training split")
        step.inputs["training text"] = t.train_file or str(Path(cfg.data.output_dir) / "train.jsonl")
        step.inputs["validation text"] = t.val_file or str(Path(cfg.data.output_dir) / "val.jsonl")
    elif step.kind in PREF_STAGES:
        f = t.train_file or "data/prefs/train.jsonl"
        if not ws.path(f).exists():
            raise ConfigError(f"{step.where}: {step.kind.upper()} needs preference pairs at {f} ({{prompt, chosen, rejected}} per "
                              "line; `zaomo feedback export` writes them from users' ratings) — or set "
                              "train.train_file for this entry")
        step.inputs["preference pairs"] = f
    else:  # sft: the user's chat data and/or reading drills from the training documents
        if step.chat_data:
            if not ws.path(step.chat_data).exists():
                raise ConfigError(f"{step.where}: chat data {step.chat_data} does not exist (train.train_file)")
            step.inputs["chat data"] = step.chat_data
        if step.drills:
            _need_clean(ws, step, have, "reading drills are made from the clean training split")
            step.inputs["clean train split"] = str(Path(cfg.data.output_dir) / "train.jsonl")
            step.inputs["domain questions (kept out of prompts)"] = cfg.eval.cloze.file
            if "kb" in have:
                step.inputs["knowledge base"] = str(Path("kb") / cfg.kb.name / "chunks.jsonl")
        elif not step.chat_data:
            raise ConfigError(f"{step.where}: SFT has no data: put chat data at data/sft/train.jsonl (or set "
                              "train.train_file), or let it make reading drills from your documents (drills > 0)")
    if t.val_file:
        step.inputs["validation data"] = t.val_file
    step.outputs = {"model": f"models/{t.output_name}"}
    step.config = {"train": _section(raw, "train"), "model": raw["model"], "project.seed": cfg.project.seed,
                   "tokenizer.chat_template": cfg.tokenizer.chat_template}
    if step.kind == "sft":
        step.config["drills"] = step.drills
