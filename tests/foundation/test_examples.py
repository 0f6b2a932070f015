"""Every shipped example recipe is a valid zaomo.yaml."""

from pathlib import Path

import pytest

from zaomo.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))  # zaomo recipes; accelerate/ holds launcher configs


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_recipe_validates(path):
    load_config(path)


def test_there_are_examples():
    assert len(EXAMPLES) >= 4
