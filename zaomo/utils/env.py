"""Facts about the running environment, recorded with every run for reproducibility."""

from __future__ import annotations

import importlib.metadata as md
import platform
import random

TRACKED_PACKAGES = (
    "zaomo", "torch", "transformers", "tokenizers", "peft", "accelerate", "pydantic",
    "numpy", "bm25s", "faiss-cpu", "fastapi", "sacrebleu", "bitsandbytes", "deepspeed", "vllm",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            continue
    return out


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (if installed) together."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def optional_import(module: str, extra: str, purpose: str):
    """Import an optional dependency or fail with the install command that fixes it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'zaomo[{extra}]'"
        ) from e
