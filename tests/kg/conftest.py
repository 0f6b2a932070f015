"""A workspace whose zaomo.yaml labels the test graph's predicates (org_graph.py)."""

from __future__ import annotations

import pytest
from org_graph import LABELS

from zaomo.workspace import Workspace


@pytest.fixture
def kg_ws(tmp_path) -> Workspace:
    root = Workspace.init(tmp_path / "ws").root
    return Workspace.open(root, overrides=[LABELS, "kb.sources=[]"])
