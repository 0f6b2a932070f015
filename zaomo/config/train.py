"""`train:` — one loop for every stage; the stage picks the objective, the method the trainable part."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class LoraConfig(Section):
    r: int = Field(8, ge=1, description="LoRA rank")
    alpha: int = Field(16, ge=1, description="LoRA alpha (scale = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="module names that get adapters")


class PrefixConfig(Section):
    num_virtual_tokens: int = Field(16, ge=1, description="prefix length for prefix tuning")


class DPOConfig(Section):
    beta: float = Field(0.1, gt=0, description="DPO temperature β")
    reference: Literal["model", "precomputed"] = Field(
        "precomputed", description="frozen reference model in memory, or its log-probs computed once up front "
        "(also KTO's reference)")


class ORPOConfig(Section):
    lam: float = Field(0.1, gt=0, description="ORPO λ: weight of the odds-ratio term beside the chosen answer's NLL")


class SimPOConfig(Section):
    beta: float = Field(2.0, gt=0, description="SimPO β: scale of the length-normalised reward")
    gamma: float = Field(1.0, ge=0, description="SimPO γ: target reward margin between chosen and rejected")


class KTOConfig(Section):
    beta: float = Field(0.1, gt=0, description="KTO β")
    desirable_weight: float = Field(1.0, gt=0, description="weight of thumbs-up examples (raise when they are "
                                    "fewer than thumbs-down ones)")
    undesirable_weight: float = Field(1.0, gt=0, description="weight of thumbs-down examples")


class RewardSpec(Section):
    kind: Literal["exact", "contains", "format", "python"] = Field(
        "exact", description="exact: the answer equals a gold answer (normalised units); contains: a gold answer "
        "occurs as whole units; format: the completion matches `pattern`; python: `function` returns the reward")
    weight: float = Field(1.0, description="this reward's weight in the sum")
    pattern: str | None = Field(None, description="format: a regular expression the completion must match")
    function: str | None = Field(None, description="python: 'path/to/file.py:name' or 'package.module:name', "
                                 "called as name(completion, record) -> float")


class GRPOConfig(Section):
    num_generations: int = Field(8, ge=2, description="completions sampled per prompt (the group)")
    max_new_tokens: int = Field(32, ge=1, description="longest completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the rollouts")
    beta: float = Field(0.04, ge=0, description="weight of the KL penalty to the starting policy; 0 = none")
    clip: float = Field(0.2, gt=0, lt=1, description="PPO-style ratio clip")
    rewards: list[RewardSpec] = Field(default_factory=lambda: [RewardSpec()],
                                      description="rule-based rewards, summed with their weights")


class TrainConfig(Section):
    stage: Literal["pretrain", "sft", "dpo", "orpo", "simpo", "kto", "reward", "grpo"] = Field(
        "pretrain", description="objective: causal LM, masked SFT, preference pairs (DPO, ORPO, SimPO), unpaired "
        "thumbs up/down (KTO), a reward model on pairs, GRPO with rule-based rewards")
    method: Literal["full", "lora", "qlora", "prefix"] = Field("full", description="which parameters train")
    init_from: str | None = Field(None, description="model dir or registered model name to start from")
    train_file: str | None = Field(None, description="training data (defaults to data.output_dir/train.jsonl)")
    val_file: str | None = Field(None, description="validation data (defaults to data.output_dir/val.jsonl)")
    output_name: str | None = Field(None, description="name of the saved model under models/")
    lr: float = Field(3e-4, gt=0, description="peak learning rate")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="final LR as a share of the peak")
    schedule: Literal["cosine", "linear", "wsd", "constant"] = Field("cosine", description="LR schedule after warmup")
    warmup_steps: int = Field(20, ge=0, description="linear warmup steps")
    max_steps: int = Field(200, ge=1, description="optimizer steps")
    batch_size: int = Field(8, ge=1, description="sequences per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay (not on norms and biases)")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW betas")
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 disables")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on a GPU that has it, else fp32")
    packing: bool = Field(False, description="SFT: pack several examples into each row of model.seq_len tokens "
                          "(attention stays within each example), instead of padding every example")
    pad_multiple: int = Field(0, ge=0, description="round padded lengths up to this multiple; 0 = auto (64 when "
                              "train.compile, so a compiled model sees few shapes; else none)")
    grad_checkpointing: bool = Field(False, description="trade compute for memory")
    compile: bool = Field(False, description="torch.compile the model (GPU)")
    eval_every: int = Field(50, ge=1, description="validate every N steps")
    save_every: int = Field(50, ge=1, description="checkpoint every N steps")
    keep_last: int = Field(2, ge=1, description="checkpoints kept besides the best")
    keep: Literal["best", "last"] | None = Field(
        None, description="weights saved at the end: the best validated or the last; unset = best when there is "
        "a validation set")
    early_stopping_patience: int = Field(0, ge=0, description="stop after N evals without improvement; 0 = off")
    log_every: int = Field(10, ge=1, description="log metrics every N steps")
    tensorboard: bool = Field(True, description="also write TensorBoard events when the package is installed")
    lora: LoraConfig = Field(default_factory=LoraConfig)
    prefix: PrefixConfig = Field(default_factory=PrefixConfig)
    dpo: DPOConfig = Field(default_factory=DPOConfig)
    orpo: ORPOConfig = Field(default_factory=ORPOConfig)
    simpo: SimPOConfig = Field(default_factory=SimPOConfig)
    kto: KTOConfig = Field(default_factory=KTOConfig)
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
