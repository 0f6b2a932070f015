"""The base every config section shares: unknown keys are errors, every field documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A zaomo.yaml section. `extra="forbid"` so that a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
