"""What changes between stages: the loss. Causal LM (pretraining and masked SFT share it — the
labels decide where loss counts); preference losses on chosen/rejected pairs: DPO (Rafailov et al. 2023, sigmoid),
ORPO (Hong et al. 2024), SimPO (Meng et al. 2024); KTO on unpaired good/bad answers (Ethayarajh et al. 2024); the
Bradley–Terry loss of a reward model; GRPO's group-relative policy loss (Shao et al. 2024). Each is written as in
its paper and checked against TRL's implementation on the same numbers (tests/train/test_alignment_losses.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def token_logps(logits: torch.Tensor, labels: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Sum (or, with `average`, mean) of log-probabilities of the labelled tokens, per sequence (labels shifted
    inside). ORPO and SimPO use the mean: a length-normalised reward, so a long answer is not penalised for its
    length."""
    logits, labels = logits[:, :-1, :], labels[:, 1:]
    mask = labels != IGNORE
    lp = torch.log_softmax(logits.float(), dim=-1)
    picked = torch.gather(lp, 2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    total = (picked * mask).sum(-1)
    return total / mask.sum(-1).clamp(min=1) if average else total


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
    lg = logits.detach()
    return loss, {"reward_margin": float(lg.mean() / beta), "reward_acc": float((lg > 0).float().mean())}


def sequence_logps(model, batch: dict, side: str, average: bool = False) -> torch.Tensor:
    out = model(input_ids=batch[f"{side}_input_ids"], attention_mask=batch[f"{side}_attention_mask"], use_cache=False)
    return token_logps(out.logits, batch[f"{side}_labels"], average)


def pair_logps(model, batch: dict, average: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                     torch.Tensor]:
    """(chosen, rejected) summed (or mean) token log-probs and labelled-token counts, from ONE forward pass over
    both sides stacked in a batch (padded to a common length): half the kernel launches and a better-filled
    matrix multiply than two passes, as TRL's concatenated forward does."""
    c_ids, r_ids = batch["chosen_input_ids"], batch["rejected_input_ids"]
    n = max(c_ids.shape[1], r_ids.shape[1])

    def pad(t: torch.Tensor, value: int) -> torch.Tensor:
        return F.pad(t, (0, n - t.shape[1]), value=value)

    ids = torch.cat([pad(c_ids, 0), pad(r_ids, 0)])
    mask = torch.cat([pad(batch["chosen_attention_mask"], 0), pad(batch["rejected_attention_mask"], 0)])
    labels = torch.cat([pad(batch["chosen_labels"], IGNORE), pad(batch["rejected_labels"], IGNORE)])
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    lp = token_logps(logits, labels, average)
    counts = (labels[:, 1:] != IGNORE).sum(-1).clamp(min=1)
    k = c_ids.shape[0]
    return lp[:k], lp[k:], counts[:k], counts[k:]


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 − exp(x)) for x < 0, stable at both ends (Mächler 2012)."""
    return torch.where(x > -0.6931, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def orpo_loss(pc_avg: torch.Tensor, pr_avg: torch.Tensor, nll: torch.Tensor,
              lam: float) -> tuple[torch.Tensor, dict]:
    """ORPO: the chosen answer's NLL − λ·log σ(log odds(chosen) − log odds(rejected)), odds from the mean token
    log-probability; no reference model. `nll` is the chosen answers' mean token NLL."""
    pc_avg, pr_avg = pc_avg.float(), pr_avg.float()
    log_odds = (pc_avg - pr_avg) - (_log1mexp(pc_avg) - _log1mexp(pr_avg))
    ratio = F.logsigmoid(log_odds)
    loss = nll - lam * ratio.mean()
    lo = log_odds.detach()
    return loss, {"log_odds": float(lo.mean()), "reward_acc": float((lo > 0).float().mean()), "nll": float(nll.detach())}


def simpo_loss(pc_avg: torch.Tensor, pr_avg: torch.Tensor, beta: float, gamma: float) -> tuple[torch.Tensor, dict]:
    """SimPO: −log σ(β·(mean logp(chosen) − mean logp(rejected)) − γ), no reference model; γ is the target
    reward margin."""
    margin = beta * (pc_avg.float() - pr_avg.float()) - gamma
    m = margin.detach() + gamma
    return -F.logsigmoid(margin).mean(), {"reward_margin": float(m.mean()), "reward_acc": float((m > 0).float().mean())}


def kto_loss(policy: torch.Tensor, ref: torch.Tensor, desirable: torch.Tensor, kl: torch.Tensor, beta: float,
             w_good: float = 1.0, w_bad: float = 1.0) -> tuple[torch.Tensor, dict]:
    """KTO: a desirable answer loses 1 − σ(β·(r − z₀)), an undesirable one 1 − σ(β·(z₀ − r)), with r the policy/
    reference log-ratio of the answer and z₀ = max(0, KL estimate) from mismatched prompt/answer pairs, held
    fixed (no gradient), as in the paper and TRL. Averaged over the examples of the batch."""
    r = policy.float() - ref.float()
    z0 = kl.detach().float().clamp(min=0)
    good = desirable.bool()
    losses = torch.where(good, w_good * (1 - torch.sigmoid(beta * (r - z0))),
                         w_bad * (1 - torch.sigmoid(beta * (z0 - r))))
    rd = r.detach()
    return losses.mean(), {"kl": float(z0), "reward_good": float(rd[good].mean()) if good.any() else float("nan"),
                           "reward_bad": float(rd[~good].mean()) if (~good).any() else float("nan")}


def reward_model_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Bradley–Terry: −log σ(r(chosen) − r(rejected)), the pairwise loss of InstructGPT's reward model."""
    diff = chosen.float() - rejected.float()
    return -F.logsigmoid(diff).mean(), {"reward_acc": float((diff.detach() > 0).float().mean())}


def group_advantages(rewards: torch.Tensor, group: int, eps: float = 1e-4) -> torch.Tensor:
    """GRPO's advantage: each completion's reward standardised within the group of completions of its prompt.
    A group whose completions all score the same teaches nothing (advantage 0)."""
    r = rewards.float().view(-1, group)
    return ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + eps)).view(-1)


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor, ref_logps: torch.Tensor | None, mask: torch.Tensor,
              advantages: torch.Tensor, beta: float, clip: float = 0.2) -> tuple[torch.Tensor, dict]:
    """GRPO per completion: −mean over its tokens of min(ρ·A, clip(ρ)·A) + β·KL, ρ = π/π_old per token and KL
    the k3 estimator exp(ref − π) − (ref − π) − 1 against the reference; summed over completions (the loop
    divides by their count). With one update per generation (ours) ρ = 1 and the gradient is A·∇log π."""
    ratio = torch.exp(logps - old_logps)
    a = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * a, torch.clamp(ratio, 1 - clip, 1 + clip) * a)
    kl = None
    if ref_logps is not None and beta > 0:
        d = ref_logps - logps
        kl = torch.exp(d) - d - 1
        per_token = per_token + beta * kl
    n = mask.sum(1).clamp(min=1)
    per_seq = (per_token * mask).sum(1) / n
    info = {"kl": float(((kl.detach() * mask).sum(1) / n).mean()) if kl is not None else 0.0}
    return per_seq.sum(), info


def completion_token_logps(model, ids: torch.Tensor, mask: torch.Tensor, start: int,
                           position_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Log-probability of every token from position `start` on (the completion), given what comes before."""
    extra = {"position_ids": position_ids} if position_ids is not None else {}
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False, **extra).logits[:, start - 1:-1, :].float()
    return torch.gather(torch.log_softmax(logits, -1), 2, ids[:, start:].unsqueeze(-1)).squeeze(-1)
