"""The zaomo.yaml schema: one pydantic model per section, and errors that name the key.

Sections live in their own modules (one per pipeline stage) so that each stage's options sit
in one readable place; this module joins them, loads YAML, applies `--set a.b=value`
overrides and checks combinations that no single section can see (e.g. QLoRA on a CPU).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from .base import Section
from .data import DataConfig
from .eval import EvalConfig
from .feedback import FeedbackConfig
from .kb import KBConfig
from .kg import KGConfig
from .model import PRESETS, ModelConfig
from .pipeline import PIPELINE_HELP, STAGES, PipelineStage, default_pipeline
from .project import ProjectConfig
from .safety import SafetyConfig
from .serve import ServeConfig
from .tokenizer import TokenizerConfig
from .train import TrainConfig

__all__ = [
    "ConfigError", "ZaomoConfig", "load_config", "apply_overrides", "default_yaml", "PRESETS",
    "DataConfig", "EvalConfig", "FeedbackConfig", "KBConfig", "KGConfig", "ModelConfig", "ProjectConfig",
    "SafetyConfig", "ServeConfig", "TokenizerConfig", "TrainConfig", "CONFIG_NAME", "PipelineStage", "STAGES",
]

CONFIG_NAME = "zaomo.yaml"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ConfigError(ValueError):
    """A config problem: the key, the bad value, what is allowed."""


class ZaomoConfig(Section):
    project: ProjectConfig = Field(default_factory=ProjectConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    kb: KBConfig = Field(default_factory=KBConfig)
    kg: KGConfig = Field(default_factory=KGConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    pipeline: list[PipelineStage] = Field(default_factory=default_pipeline, description=PIPELINE_HELP)

    @model_validator(mode="after")
    def _combinations(self) -> ZaomoConfig:
        if self.train.method == "qlora" and not (self.model.base or self.train.init_from):
            raise ValueError("train.method: 'qlora' quantises a pretrained base, but neither model.base nor "
                             "train.init_from is set; set one, or use train.method=lora / full from scratch")
        if self.train.method == "qlora" and self.project.device == "mps":
            raise ValueError("train.method: 'qlora' needs bitsandbytes 4-bit, which has no MPS backend; use "
                             "train.method=lora on this device")
        if self.project.device == "cpu" and self.train.precision == "fp16":
            raise ValueError("train.precision: 'fp16' is not supported on project.device 'cpu'; use fp32 or bf16")
        if self.train.stage not in ("pretrain", "sft") and self.train.method == "prefix":
            raise ValueError(f"train.method: 'prefix' with train.stage '{self.train.stage}' is not supported; use full "
                             "or lora")
        if self.train.stage == "reward" and self.train.method not in ("full", "lora"):
            raise ValueError(f"train.method: '{self.train.method}' with train.stage 'reward' is not supported; use "
                             "full or lora")
        if self.serve.host not in LOOPBACK and not self.serve.require_keys:
            raise ValueError(f"serve.require_keys: must be true when serve.host is '{self.serve.host}' "
                             "(not loopback); create keys with `zaomo keys create`")
        if self.serve.engine in ("remote",) and not self.serve.remote_url:
            raise ValueError("serve.remote_url: required when serve.engine is 'remote'")
        names = [p.name for p in self.pipeline if p.name]
        if dup := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"pipeline: the name {dup[0]!r} is given to more than one stage; names must be unique")
        if self.model.num_heads and self.model.num_kv_heads and self.model.num_heads % self.model.num_kv_heads:
            raise ValueError(f"model.num_kv_heads: {self.model.num_kv_heads} must divide model.num_heads "
                             f"({self.model.num_heads})")
        return self


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    m: Any = model
    for part in loc[:-1]:
        field = m.model_fields.get(part) if isinstance(m, type) and issubclass(m, BaseModel) else None
        if field is None:
            return []
        m = field.annotation
    if isinstance(m, type) and issubclass(m, BaseModel):
        return list(m.model_fields)
    return []


def _explain(err: ValidationError, source: str) -> ConfigError:
    lines = [f"invalid config ({source}):"]
    for e in err.errors():
        loc = tuple(e["loc"])
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(root)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(ZaomoConfig, loc)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" — did you mean '{'.'.join(map(str, loc[:-1] + (close[0],)))}'?" if close else ""
            lines.append(f"  {key}: unknown key{hint} Allowed here: {', '.join(allowed)}")
        elif e["type"] == "value_error" and not loc:
            lines.append("  " + e["msg"].removeprefix("Value error, "))
        elif e["type"] == "value_error":
            lines.append(f"  {key}: " + e["msg"].removeprefix("Value error, "))
        else:
            value = e.get("input")
            shown = repr(value) if not isinstance(value, dict) else "{…}"
            lines.append(f"  {key}: got {shown}; {e['msg']}")
    return ConfigError("\n".join(lines))


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=3e-4` → (["train", "lr"], 0.0003); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override '{text}': expected KEY=VALUE, e.g. train.lr=3e-4")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override '{text}': empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(raw: dict, overrides: list[str] | None) -> dict:
    out = dict(raw)
    for text in overrides or []:
        parts, value = parse_override(text)
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
            node[p] = dict(nxt)
            node = node[p]
        node[parts[-1]] = value
    return out


def validate(raw: dict, source: str = "config") -> ZaomoConfig:
    try:
        return ZaomoConfig.model_validate(raw)
    except ValidationError as e:
        raise _explain(e, source) from None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ZaomoConfig:
    """Read zaomo.yaml (or defaults if `path` is None/missing) and apply overrides."""
    raw: dict = {}
    source = "defaults"
    if path is not None and Path(path).exists():
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (project:, data:, …)")
        raw = loaded
    return validate(apply_overrides(raw, overrides), source)


def _yaml_scalar(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()


def _emit(model: BaseModel, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.append(f"{pad}{name}:" + (f"  # {field.description}" if field.description else ""))
            _emit(value, indent + 1, out)
            continue
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, list):  # a list of sections (train.grpo.rewards): their fields set, as a flow list
            value = [v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v for v in value]
        comment = f"  # {field.description}" if field.description else ""
        out.append(f"{pad}{name}: {_yaml_scalar(value)}{comment}")


def default_yaml(cfg: ZaomoConfig | None = None) -> str:
    """The config as commented YAML: every field with its value and what it means."""
    cfg = cfg or ZaomoConfig()
    out = ["# zaomo.yaml — one file for every stage. Every key is documented; `zaomo init` wrote the defaults.",
           "# Override any key on the command line: zaomo train --set train.lr=3e-4", ""]
    for name, field in ZaomoConfig.model_fields.items():
        section = getattr(cfg, name)
        if name == "pipeline":
            out.append(f"pipeline:  # {field.description}")
            out += [f"  - {_yaml_scalar(stage.shorthand())}" for stage in section]
        else:
            out.append(f"{name}:")
            _emit(section, 1, out)
        out.append("")
    return "\n".join(out)
