"""What changes between stages: the loss. Causal LM (pretraining and masked SFT share it — the
labels decide where loss counts) and DPO (Rafailov et al. 2023, sigmoid loss)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def token_logps(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of log-probabilities of the labelled tokens, per sequence (labels shifted inside)."""
    logits, labels = logits[:, :-1, :], labels[:, 1:]
    mask = labels != IGNORE
    lp = torch.log_softmax(logits.float(), dim=-1)
    picked = torch.gather(lp, 2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def labelled_tokens(batch: dict) -> int:
    """Tokens that carry loss in a causal-LM batch (labels are shifted by one inside the loss)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def causal_lm_loss(model, batch: dict, reduction: str = "mean", select: bool = False,
                   chunk: int = 2048) -> tuple[torch.Tensor, int]:
    """Cross-entropy over labelled tokens, mean or sum; returns (loss, number of labelled tokens).

    The sum lets the loop divide by the labelled tokens of a whole accumulation window (as the HF Trainer does
    with `num_items_in_batch`), so a micro-batch with 3 labelled tokens weighs 1/100 of one with 300. With
    `select`, the LM head runs only where a label follows (transformers' boolean `logits_to_keep`): an SFT batch,
    mostly prompt, projects a fraction of its positions onto the vocabulary. The float cross-entropy is taken
    `chunk` positions at a time, so bf16 logits are never copied to float32 whole. `select` needs eager mode
    (data-dependent shapes); packed rows pass their position ids, so attention stays within each example."""
    mask = batch.get("attention_mask")
    if mask is not None and bool(mask.all()):
        mask = None  # no padding (packed blocks): lets attention take the plain causal fast path
    extra = {"position_ids": batch["position_ids"]} if "position_ids" in batch else {}
    labels = batch["labels"]
    target = labels[:, 1:]
    if select:
        keep = torch.zeros_like(labels, dtype=torch.bool)
        keep[:, :-1] = target != IGNORE
        logits = model(input_ids=batch["input_ids"], attention_mask=mask, use_cache=False, logits_to_keep=keep,
                       **extra).logits
        logits, y = logits.reshape(-1, logits.size(-1)), target[keep[:, :-1]]
    else:  # shift the labels, not the logits: slicing the logits would copy the largest tensor of the step
        logits = model(input_ids=batch["input_ids"], attention_mask=mask, use_cache=False, **extra).logits
        y = F.pad(target, (0, 1), value=IGNORE).reshape(-1)
        logits = logits.reshape(-1, logits.size(-1))
    n = int((y != IGNORE).sum())
    loss = logits.new_zeros((), dtype=torch.float32) + 0 * logits.sum() if y.numel() == 0 else sum(
        F.cross_entropy(logits[i:i + chunk].float(), y[i:i + chunk], ignore_index=IGNORE, reduction="sum")
        for i in range(0, y.numel(), chunk))
    if reduction == "mean":
        loss = loss / max(1, n)
    return loss, n


def dpo_loss(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor,
             beta: float) -> tuple[torch.Tensor, dict]:
    """-log σ(β·((πc − rc) − (πr − rr))), averaged; plus reward margins for logging."""
    logits = beta * ((pc - rc) - (pr - rr))
    loss = -F.logsigmoid(logits).mean()
    return loss, {"reward_margin": float(logits.mean() / beta), "reward_acc": float((logits > 0).float().mean())}


def sequence_logps(model, batch: dict, side: str) -> torch.Tensor:
    out = model(input_ids=batch[f"{side}_input_ids"], attention_mask=batch[f"{side}_attention_mask"], use_cache=False)
    return token_logps(out.logits, batch[f"{side}_labels"])
