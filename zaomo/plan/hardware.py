"""Detect the machine: devices, memory, disk and which optional extras can be imported.

Extras are found with `importlib.util.find_spec`, not imported, so `zaomo doctor` stays fast even when
heavy packages (vLLM, DeepSpeed, sentence-transformers) are installed.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

# Dense bf16 peak TFLOP/s by GPU name fragment (vendor spec sheets); used for time estimates and MFU.
GPU_PEAK_TFLOPS = {
    "H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L40": 181.0, "A10": 125.0, "L4": 121.0,
    "4090": 165.0, "3090": 71.0, "V100": 125.0, "T4": 65.0,
}
EXTRAS = {
    "bitsandbytes": "gpu", "deepspeed": "gpu", "vllm": "vllm", "sentence_transformers": "dense",
    "ray": "scale", "pymilvus": "scale", "psycopg": "scale", "lm_eval": "harness",
    "trl": "dev", "playwright": "dev", "tensorboard": "tensorboard",
}


@dataclass
class Hardware:
    python: str
    os: str
    cpu_cores: int
    host_memory_gb: float
    disk_free_gb: float
    torch: str | None = None
    device: str = "cpu"  # cpu | cuda | mps
    gpus: list[str] = field(default_factory=list)
    gpu_memory_gb: float = 0.0  # per GPU
    bf16: bool = False
    peak_tflops: float = 0.0
    extras: dict[str, bool] = field(default_factory=dict)

    @property
    def accelerator_memory_gb(self) -> float:
        """Memory a model can live in: one GPU's, or (CPU/MPS) most of host memory."""
        if self.device == "cuda":
            return self.gpu_memory_gb
        return self.host_memory_gb * 0.75


def host_memory_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        return 0.0


def peak_tflops_for(gpu_name: str) -> float:
    for frag, tf in GPU_PEAK_TFLOPS.items():
        if frag.lower() in gpu_name.lower():
            return tf
    return 0.0


def cpu_peak_tflops(cores: int) -> float:
    """A rough fp32 figure for a modern x86 core with AVX2 FMA at ~3 GHz (32 FLOP/cycle)."""
    return cores * 3.0e9 * 32 / 1e12


def detect_hardware(workspace: str | Path = ".") -> Hardware:
    cores = os.cpu_count() or 1
    probe = Path(workspace)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    hw = Hardware(
        python=platform.python_version(),
        os=f"{platform.system()} {platform.release()}",
        cpu_cores=cores,
        host_memory_gb=round(host_memory_gb(), 1),
        disk_free_gb=round(shutil.disk_usage(probe).free / 1024**3, 1),
        extras={name: importlib.util.find_spec(name) is not None for name in EXTRAS},
        peak_tflops=round(cpu_peak_tflops(cores), 2),
    )
    try:
        import torch
    except ImportError:
        return hw
    hw.torch = torch.__version__
    if torch.cuda.is_available():
        hw.device = "cuda"
        hw.gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        hw.gpu_memory_gb = round(torch.cuda.get_device_properties(0).total_memory / 1024**3, 1)
        hw.bf16 = bool(torch.cuda.is_bf16_supported())
        hw.peak_tflops = peak_tflops_for(hw.gpus[0])
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        hw.device = "mps"
        hw.bf16 = True
    else:
        hw.bf16 = False  # CPU bf16 autocast exists but is slow on most CPUs; we train fp32 there
    return hw
