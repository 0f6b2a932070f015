"""`pipeline:` — the stages `zaomo run` executes, in order (docs/run.md).

Each entry is a stage name (`sft`), a name with a training method (`sft(lora)`), or a one-key mapping whose
value overrides config keys for that stage only: bare keys belong to the stage's own section (`train` for
pretrain/sft/dpo, else the section named like the stage), dotted keys to any section, and `name`/`drills`
are the entry's own options:

    pipeline:
      - data
      - kb
      - sft: {method: lora, max_steps: 300, drills: 400}
      - eval

Overrides are validated here against their section's schema, so a typo is refused when the file is read,
with the entry, the key and the fix named.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from .base import Section
from .data import DataConfig
from .eval import EvalConfig
from .feedback import FeedbackConfig
from .kb import KBConfig
from .model import ModelConfig
from .project import ProjectConfig
from .safety import SafetyConfig
from .serve import ServeConfig
from .tokenizer import TokenizerConfig
from .train import TrainConfig

StageName = Literal["data", "tokenizer", "pretrain", "sft", "dpo", "orpo", "simpo", "kto", "kb", "eval"]
PREF_STAGES = ("dpo", "orpo", "simpo", "kto")  # train on preference pairs (data/prefs/train.jsonl by default)
STAGES: tuple[str, ...] = ("data", "tokenizer", "pretrain", "sft", *PREF_STAGES, "kb", "eval")
TRAIN_STAGES = ("pretrain", "sft", *PREF_STAGES)
OWN_SECTION = {"data": "data", "tokenizer": "tokenizer", "pretrain": "train", "sft": "train",
               **{s: "train" for s in PREF_STAGES},
               "kb": "kb", "eval": "eval"}
SECTIONS: dict[str, type[BaseModel]] = {
    "project": ProjectConfig, "data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig,
    "train": TrainConfig, "eval": EvalConfig, "kb": KBConfig, "serve": ServeConfig, "safety": SafetyConfig,
    "feedback": FeedbackConfig}
ENTRY_OPTIONS = ("name", "drills")
DEFAULT_PIPELINE = ("data", "tokenizer", "pretrain", "kb", "sft", "eval")
DEFAULT_DRILLS = 400
_SHORT = re.compile(r"^\s*([a-z]+)\s*(?:\(\s*([a-z]+)\s*\))?\s*$")


def _unknown_stage(name: str) -> ValueError:
    close = difflib.get_close_matches(name, STAGES, n=1)
    hint = f" — did you mean '{close[0]}'?" if close else ""
    return ValueError(f"unknown stage '{name}'{hint} Stages: {', '.join(STAGES)}")


def _explain_section(section: str, err: ValidationError) -> str:
    """One line per problem, keyed by the dotted config key, with the allowed keys for an unknown one."""
    out = []
    for e in err.errors():
        key = ".".join([section, *(str(p) for p in e["loc"])])
        if e["type"] == "extra_forbidden":
            model: Any = SECTIONS[section]
            for part in e["loc"][:-1]:
                model = model.model_fields[part].annotation
            allowed = list(model.model_fields)
            close = difflib.get_close_matches(str(e["loc"][-1]), allowed, n=1)
            hint = f" — did you mean '{key.rsplit('.', 1)[0]}.{close[0]}'?" if close else ""
            out.append(f"{key}: unknown key{hint} Allowed here: {', '.join(allowed)}")
        else:
            out.append(f"{key}: got {e.get('input')!r}; {e['msg']}")
    return "; ".join(out)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _model_at(section: str, path: list[str]) -> type[BaseModel] | None:
    """The schema model a dotted path inside `section` leads to, or None when it ends at a plain field."""
    model: Any = SECTIONS.get(section)
    for part in path:
        field = model.model_fields.get(part) if model is not None else None
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
    return model


def _flatten(key: str, value: Any) -> dict[str, Any]:
    """`train.lora: {r: 4}` → {"train.lora.r": 4}: mappings are opened only where the schema has a section."""
    section, *path = key.split(".")
    if isinstance(value, dict) and _model_at(section, path) is not None:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(f"{key}.{k}", v))
        return out
    return {key: value}


class PipelineStage(Section):
    """One entry of `pipeline:` in canonical form (what the shorthands above become)."""

    stage: StageName = Field(..., description="what the stage does: " + ", ".join(STAGES))
    name: str | None = Field(None, description="label, unique in the pipeline (default: the stage's name; a "
                             "repeated stage is numbered sft-2, sft-3)")
    drills: int | None = Field(None, ge=0, description=f"sft: reading drills made from the training documents "
                               f"(cloze questions, closed- and open-book); default {DEFAULT_DRILLS}")
    set: dict[str, Any] = Field(default_factory=dict, description="config keys for this stage only (dotted)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, str):
            m = _SHORT.match(v)
            if not m:
                raise ValueError(f"'{v}' is not a stage; write a stage name such as 'sft', 'sft(lora)', or a "
                                 "mapping such as {sft: {method: lora}}")
            stage, method = m.groups()
            if stage not in STAGES:
                raise _unknown_stage(stage)
            if method and stage not in TRAIN_STAGES:
                raise ValueError(f"'{v}': only training stages ({', '.join(TRAIN_STAGES)}) take a method in "
                                 "parentheses")
            v = {stage: {"method": method} if method else {}}
        if not isinstance(v, dict):
            raise ValueError(f"got {v!r}; a stage is a name (sft), a name with a method (sft(lora)) or a "
                             "one-key mapping ({sft: {method: lora}})")
        if "stage" in v:  # already canonical
            return v
        if len(v) != 1:
            raise ValueError(f"a mapping entry names one stage; got {sorted(map(str, v))}. Write one entry per "
                             "stage: - {sft: {method: lora}}")
        stage, opts = next(iter(v.items()))
        m = _SHORT.match(str(stage))
        method = None
        if m and m.group(1) in STAGES:
            stage, method = m.groups()
        if stage not in STAGES:
            raise _unknown_stage(str(stage))
        if opts is None:
            opts = {}
        if not isinstance(opts, dict):
            raise ValueError(f"stage '{stage}': its options must be a mapping of config keys, got {opts!r}")
        own = OWN_SECTION[stage]
        out: dict[str, Any] = {"stage": stage, "set": {}}
        if method:
            out["set"]["train.method"] = method
        for key, value in opts.items():
            key = str(key)
            if key in ENTRY_OPTIONS:
                out[key] = value
            elif key.split(".", 1)[0] in SECTIONS and ("." in key or isinstance(value, dict)):
                out["set"].update(_flatten(key, value))
            elif "." in key:  # a dotted key outside any section: reported (with a suggestion) by _check
                out["set"][key] = value
            else:
                out["set"].update(_flatten(f"{own}.{key}", value))
        return out

    @model_validator(mode="after")
    def _check(self) -> PipelineStage:
        if self.drills is not None and self.stage != "sft":
            raise ValueError(f"stage '{self.stage}': 'drills' is an option of sft stages only")
        if self.stage in TRAIN_STAGES and "train.stage" in self.set:
            raise ValueError(f"stage '{self.stage}': train.stage is set by the pipeline entry itself; drop it "
                             "(or use a different entry: pretrain, sft, dpo, orpo, simpo, kto)")
        problems = []
        by_section: dict[str, dict[str, Any]] = {}
        for key, value in self.set.items():
            section = key.split(".", 1)[0]
            if section not in SECTIONS or "." not in key:
                close = difflib.get_close_matches(section, SECTIONS, n=1)
                problems.append(f"{key}: unknown section '{section}'" + (f" — did you mean '{close[0]}'?" if close
                                                                           else ""))
                continue
            by_section.setdefault(section, {})[key.split(".", 1)[1]] = value
        for section, flat in by_section.items():
            try:
                SECTIONS[section].model_validate(_nest(flat))
            except ValidationError as e:
                problems.append(_explain_section(section, e))
        if problems:
            raise ValueError(f"stage '{self.stage}': " + "; ".join(problems))
        return self

    def shorthand(self) -> str | dict[str, Any]:
        """The shortest YAML form that reads back as this entry (what `zaomo init` and `plan --apply` write)."""
        own = OWN_SECTION[self.stage]
        opts: dict[str, Any] = {k: getattr(self, k) for k in ENTRY_OPTIONS if getattr(self, k) is not None}
        for key, value in self.set.items():
            opts[key.split(".", 1)[1] if key.startswith(own + ".") and key.count(".") == 1 else key] = value
        if not opts:
            return self.stage
        if list(opts) == ["method"] and self.stage in TRAIN_STAGES:
            return f"{self.stage}({opts['method']})"
        return {self.stage: opts}


def default_pipeline() -> list[PipelineStage]:
    return [PipelineStage(stage=s) for s in DEFAULT_PIPELINE]


PIPELINE_HELP = ("the stages `zaomo run` executes, in order (docs/run.md): " + ", ".join(STAGES)
                 + "; an entry may override keys for its stage only, e.g. {sft: {method: lora, max_steps: 300}}")
