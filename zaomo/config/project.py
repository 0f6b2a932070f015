"""`project:` — names the workspace, the seed, the device and where records are kept."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class ProjectConfig(Section):
    name: str = Field("my-model", description="name of this model project; used for model and run names")
    seed: int = Field(1234, description="global random seed; every run records it")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="where to compute: auto picks cuda, then mps, then cpu")
    database: str = Field(
        "sqlite:///zaomo.db",
        description="SQLAlchemy URL for runs, models, audit and feedback; relative SQLite paths are "
        "inside the workspace; e.g. postgresql+psycopg://user:pw@host/db to scale out")
