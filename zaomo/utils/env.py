"""Facts about the running environment, recorded with every run for reproducibility."""

from __future__ import annotations

import importlib.metadata as md
import platform
import random
from collections.abc import Iterator
from contextlib import contextmanager

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


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, else platform)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator[dict[str, object]]:
    """Seed everything, pin torch's thread count and ask for deterministic kernels, so that two runs on one
    machine compute the same numbers (a different thread count changes the order of float sums); the previous
    settings come back afterwards. Yields the machine card that goes into a report: results can differ between
    machines whose kernels differ (AVX2 vs AVX-512 vs AMX), so a figure means something only with its machine."""
    import os

    import torch

    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    seed_everything(seed)
    n = threads or before[0]
    torch.set_num_threads(n)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": n,
               "cpu_kernels": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
               "platform": f"{platform.system()} {platform.machine()}"}
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1], warn_only=before[2])
