"""需求分析: what this hardware can do (doctor), what it costs (memory/FLOPs model), which route to take (plan)."""

from .hardware import Hardware, detect_hardware
from .memory import inference_memory_gb, largest_model_that_fits, training_memory_gb
from .recommend import DataInventory, Plan, apply_plan, inventory, make_plan

__all__ = [
    "Hardware", "detect_hardware", "training_memory_gb", "inference_memory_gb", "largest_model_that_fits",
    "DataInventory", "Plan", "make_plan", "inventory", "apply_plan",
]
