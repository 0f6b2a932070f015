"""Where a workspace keeps things (the layout of DESIGN.md) and its run/model registry."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .config import CONFIG_NAME, ZaomoConfig, default_yaml, load_config
from .records import ModelVersion, Registry
from .utils.io import atomic_write_text


@dataclass
class Workspace:
    """A folder holding zaomo.yaml, data, tokenizer, models, runs, kb, eval and zaomo.db."""

    root: Path
    cfg: ZaomoConfig = field(default_factory=ZaomoConfig)
    _registry: Registry | None = field(default=None, repr=False)

    @classmethod
    def open(cls, root: str | Path = ".", config: str | Path | None = None,
             overrides: list[str] | None = None) -> Workspace:
        root = Path(root).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"no workspace at {root}; create one with `zaomo init {root}`")
        cfg_path = Path(config) if config else root / CONFIG_NAME
        if config and not cfg_path.exists():
            raise FileNotFoundError(f"config file {cfg_path} does not exist")
        return cls(root=root, cfg=load_config(cfg_path if cfg_path.exists() else None, overrides))

    @classmethod
    def init(cls, root: str | Path, cfg: ZaomoConfig | None = None, force: bool = False) -> Workspace:
        """Create the layout and a commented zaomo.yaml (kept if present unless `force`)."""
        root = Path(root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        ws = cls(root=root, cfg=cfg or ZaomoConfig())
        if force or not ws.config_path.exists():
            atomic_write_text(ws.config_path, default_yaml(ws.cfg))
        for d in (ws.raw_dir, ws.models_dir, ws.runs_dir, ws.kb_root, ws.eval_root):
            d.mkdir(parents=True, exist_ok=True)
        return ws

    def save_config(self) -> None:
        atomic_write_text(self.config_path, default_yaml(self.cfg))

    # paths
    def path(self, p: str | Path) -> Path:
        """A config path: absolute as given, otherwise relative to the workspace."""
        p = Path(p).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def clean_dir(self) -> Path:
        return self.path(self.cfg.data.output_dir)

    @property
    def eval_data_dir(self) -> Path:
        return self.root / "data" / "eval"

    @property
    def quarantine_path(self) -> Path:
        return self.clean_dir / "quarantine.jsonl"

    @property
    def tokenizer_dir(self) -> Path:
        return self.path(self.cfg.tokenizer.output_dir)

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def kb_root(self) -> Path:
        return self.root / "kb"

    def kb_dir(self, name: str | None = None) -> Path:
        return self.kb_root / (name or self.cfg.kb.name)

    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    @property
    def database_url(self) -> str:
        url = self.cfg.project.database
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.root / url[len(prefix):])
        return url

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self.database_url)
        return self._registry

    def new_run_id(self, kind: str) -> str:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        return f"{kind}-{stamp}-{secrets.token_hex(3)}"

    def run_dir(self, run_id: str) -> Path:
        d = self.runs_dir / run_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def resolve_model(self, ref: str | None) -> Path:
        """A model reference — a directory, `name`, or `name:version` in the registry — as a directory."""
        if ref is None:
            ref = self.cfg.serve.model or self.cfg.model.name or self.cfg.project.name
        p = self.path(ref)
        if p.is_dir():
            return p
        name, _, ver = ref.partition(":")
        mv: ModelVersion | None = self.registry.get_model(name, int(ver) if ver else None)
        if mv is not None:
            return self.path(mv.path)
        if (self.models_dir / ref).is_dir():
            return self.models_dir / ref
        raise FileNotFoundError(
            f"model '{ref}' is neither a directory nor a registered model in {self.root}; "
            f"see `zaomo models` for what exists")
