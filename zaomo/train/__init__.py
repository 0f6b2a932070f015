"""预训练/微调: one loop for pretraining, SFT and DPO; full, LoRA, QLoRA and prefix tuning."""

from .loop import TrainResult, run_training

__all__ = ["TrainResult", "run_training"]
