"""`zaomo run`: the recipe in zaomo.yaml (`pipeline:`) executed incrementally, with a report on your data."""

from __future__ import annotations

from .runner import Outcome, RecipeResult, run_recipe

__all__ = ["Outcome", "RecipeResult", "run_recipe"]
