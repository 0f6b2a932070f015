"""The recipe workspace fixture (documents and recipe: recipe_docs.py)."""

from __future__ import annotations

import pytest
from recipe_docs import make_workspace


@pytest.fixture
def recipe_ws(tmp_path, tiny_model_dir):
    return lambda name="ws", **changes: make_workspace(tmp_path / name, tiny_model_dir, **changes)
