"""Per stage, what the one training loop needs: the data it reads, what its loss averages over (tokens, pairs,
answers, completions) and the loss of one micro-batch. The loop (loop.py) is the same for all of them.

Preference stages: DPO (with a reference: precomputed log-probs or a frozen copy), ORPO and SimPO (no reference),
KTO (unpaired thumbs up/down, reference as DPO's), a reward model (a sequence-classification head on the base,
Bradley–Terry on pairs). GRPO samples a group of completions per prompt with the policy itself, scores them with
rule-based rewards and weights each completion's log-probability by its group-relative advantage — on-policy,
one update per rollout, so it lives in the same loop rather than in a trainer of its own."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.train import TrainConfig
from ..model.chat import stop_ids
from . import data as tdata
from .objectives import (
    causal_lm_loss,
    completion_token_logps,
    dpo_loss,
    group_advantages,
    grpo_loss,
    kto_loss,
    labelled_tokens,
    orpo_loss,
    pair_logps,
    reward_model_loss,
    sequence_logps,
    simpo_loss,
)
from .rewards import build_reward


class Stage:
    """A causal-LM stage (pretraining, SFT): loss per labelled token."""

    per_token = True  # the loss averages over labelled tokens (else over examples)

    def __init__(self, t: TrainConfig, tok, root: Path):
        self.t, self.tok, self.root = t, tok, root

    def load(self, path: Path, seq_len: int) -> list[dict]:
        return tdata.load_sft(path, self.tok, seq_len)

    def collate(self, exs: list[dict], multiple: int = 1) -> dict:
        return tdata.collate(exs, self.tok.pad_token_id, multiple)

    def units(self, exs: list[dict], batch: dict, val: bool = False) -> int:
        return labelled_tokens(batch) if self.per_token else len(exs)

    def setup(self, raw, train_ds, val_ds, device) -> None:
        """Work before the first step (a reference model's log-probs)."""

    def loss(self, model, b: dict, rows: list[int], val: bool = False,
             select: bool = False) -> tuple[torch.Tensor, dict]:
        """The loss of micro-batch `b` SUMMED over its units (the loop divides by the window's units); `rows`
        are the examples' positions in the train (or, with `val`, validation) set."""
        loss, _n = causal_lm_loss(model, b, reduction="sum", select=select)
        return loss, {}


def frozen_copy(model):
    """The starting policy kept as it is, for a reference the run compares against as it goes."""
    frozen = copy.deepcopy(model).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    return frozen


class _Reference:
    """The starting policy's sequence log-probs for the given sides of each example: computed once up front
    (adapters off for LoRA), or by a frozen copy as the run goes (`dpo.reference=model`)."""

    def __init__(self, stage: Stage, raw, sides: tuple[str, ...], train_ds, val_ds, device):
        self.sides, self.device = sides, device
        if stage.t.dpo.reference == "model":
            self.frozen = frozen_copy(raw)
            return
        self.frozen = None
        ctx = raw.disable_adapter() if hasattr(raw, "disable_adapter") else contextlib.nullcontext()
        with ctx:
            self.train = self._compute(stage, raw, [train_ds[i] for i in range(len(train_ds))])
            self.val = self._compute(stage, raw, [val_ds[i] for i in range(len(val_ds))]) if val_ds else []

    def _compute(self, stage: Stage, model, items: list[dict]) -> list[tuple[float, ...]]:
        out: list[tuple[float, ...]] = []
        was = model.training
        model.eval()
        with torch.no_grad():
            for s in range(0, len(items), 8):
                b = {k: v.to(self.device) for k, v in stage.collate(items[s:s + 8]).items()}
                out += list(zip(*(sequence_logps(model, b, side).tolist() for side in self.sides)))
        model.train(was)
        return out

    def __call__(self, b: dict, rows: list[int], val: bool) -> list[torch.Tensor]:
        if self.frozen is not None:
            with torch.no_grad():
                return [sequence_logps(self.frozen, b, side) for side in self.sides]
        table = self.val if val else self.train
        r = torch.tensor([table[i] for i in rows], device=self.device)
        return [r[:, j] for j in range(len(self.sides))]


class Pairs(Stage):
    """DPO, ORPO, SimPO: chosen and rejected answers to one prompt; the loss averages over pairs."""

    per_token = False

    def load(self, path: Path, seq_len: int) -> list[dict]:
        return tdata.load_dpo(path, self.tok, seq_len)

    def setup(self, raw, train_ds, val_ds, device) -> None:
        self.ref = _Reference(self, raw, ("chosen", "rejected"), train_ds, val_ds, device) \
            if self.t.stage == "dpo" else None

    def loss(self, model, b, rows, val=False, select=False):
        t = self.t
        pc, pr, nc, nr = pair_logps(model, b)
        if t.stage == "dpo":
            rc, rr = self.ref(b, rows, val)
            loss, info = dpo_loss(pc, pr, rc, rr, t.dpo.beta)
        else:
            if t.stage == "orpo":
                loss, info = orpo_loss(pc / nc, pr / nr, -pc.sum() / nc.sum(), t.orpo.lam)
            else:
                loss, info = simpo_loss(pc / nc, pr / nr, t.simpo.beta, t.simpo.gamma)
        return loss * len(rows), info


class KTO(Stage):
    """KTO on unpaired answers marked desirable or not; the loss averages over answers."""

    per_token = False

    def load(self, path: Path, seq_len: int) -> list[dict]:
        return tdata.load_kto(path, self.tok, seq_len)

    def setup(self, raw, train_ds, val_ds, device) -> None:
        self.ref = _Reference(self, raw, ("completion", "kl"), train_ds, val_ds, device)

    def loss(self, model, b, rows, val=False, select=False):
        policy = sequence_logps(model, b, "completion")
        with torch.no_grad():
            kl_policy = sequence_logps(model, b, "kl")
        ref, ref_kl = self.ref(b, rows, val)
        k = self.t.kto
        loss, info = kto_loss(policy, ref, b["label"], (kl_policy - ref_kl).mean(), k.beta, k.desirable_weight,
                              k.undesirable_weight)
        return loss * len(rows), info


class Reward(Stage):
    """A reward model: the base with a one-output classification head, trained on pairs (Bradley–Terry)."""

    per_token = False

    def load(self, path: Path, seq_len: int) -> list[dict]:
        return tdata.load_dpo(path, self.tok, seq_len)

    def loss(self, model, b, rows, val=False, select=False):
        rc = model(input_ids=b["chosen_input_ids"], attention_mask=b["chosen_attention_mask"]).logits[:, 0]
        rr = model(input_ids=b["rejected_input_ids"], attention_mask=b["rejected_attention_mask"]).logits[:, 0]
        loss, info = reward_model_loss(rc, rr)  # two passes: the head reads the last non-pad token of each
        return loss * len(rows), info


class GRPO(Stage):
    """GRPO with rule-based rewards: a group of completions per prompt, sampled by the policy."""

    per_token = False

    def __init__(self, t: TrainConfig, tok, root: Path):
        super().__init__(t, tok, root)
        self.score = build_reward(t.grpo.rewards, root)

    def load(self, path: Path, seq_len: int) -> list[dict]:
        self.seq_len = seq_len
        return tdata.load_prompts(path, self.tok, seq_len)

    def collate(self, exs: list[dict], multiple: int = 1) -> dict:
        """Prompts left-padded (generation continues from the right edge), their records kept for the rewards."""
        n = max(len(e["prompt_ids"]) for e in exs)
        ids = torch.full((len(exs), n), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(exs), n), dtype=torch.long)
        for i, e in enumerate(exs):
            L = len(e["prompt_ids"])
            ids[i, n - L:] = torch.from_numpy(e["prompt_ids"])
            mask[i, n - L:] = 1
        return {"prompt_ids": ids, "prompt_mask": mask, "records": [e["record"] for e in exs]}

    def units(self, exs, batch, val=False) -> int:
        return len(exs) if val else len(exs) * self.t.grpo.num_generations

    def setup(self, raw, train_ds, val_ds, device) -> None:
        self.raw, self.frozen = raw, None
        self.stops = stop_ids(self.tok, raw)
        if self.t.grpo.beta > 0 and not hasattr(raw, "disable_adapter"):
            self.frozen = frozen_copy(raw)

    def _rollout(self, b: dict, group: int, sample: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
        """(full ids, attention mask, completion mask, completion texts) for `group` samples per prompt."""
        g = self.t.grpo
        ids = b["prompt_ids"].repeat_interleave(group, 0)
        pmask = b["prompt_mask"].repeat_interleave(group, 0)
        was = self.raw.training
        self.raw.eval()
        with torch.no_grad():
            out = self.raw.generate(input_ids=ids, attention_mask=pmask, do_sample=sample,
                                    temperature=g.temperature if sample else None, top_p=1.0 if sample else None,
                                    top_k=0 if sample else None,
                                    max_new_tokens=min(g.max_new_tokens, self.seq_len - ids.shape[1]),
                                    eos_token_id=self.stops, pad_token_id=self.tok.pad_token_id)
        self.raw.train(was)
        comp = out[:, ids.shape[1]:]
        stop = torch.isin(comp, torch.tensor(self.stops, device=comp.device))
        # a completion runs up to and including its first stop token
        after = (stop.cumsum(1) - stop.long()) > 0
        cmask = (~after).long()
        texts = [self.tok.decode(c[m.bool()], skip_special_tokens=True).strip() for c, m in zip(comp, cmask)]
        return out, torch.cat([pmask, cmask], 1), cmask, texts

    def loss(self, model, b, rows, val=False, select=False):
        records = b["records"]
        if val:  # greedy answers: the reward the policy earns when it is used
            _, _, _, texts = self._rollout(b, 1, sample=False)
            r = torch.tensor(self.score(texts, records), dtype=torch.float32)
            return -r.sum(), {"reward": float(r.mean())}
        g = self.t.grpo
        ids, mask, cmask, texts = self._rollout(b, g.num_generations, sample=True)
        recs = [rec for rec in records for _ in range(g.num_generations)]
        rewards = torch.tensor(self.score(texts, recs), dtype=torch.float32, device=ids.device)
        adv = group_advantages(rewards, g.num_generations)
        start = b["prompt_ids"].shape[1]
        pos = (mask.cumsum(1) - 1).clamp(min=0)  # left padding: positions count real tokens only
        logps = completion_token_logps(model, ids, mask, start, pos)
        ref = None
        if g.beta > 0:
            with torch.no_grad():
                if self.frozen is not None:
                    ref = completion_token_logps(self.frozen, ids, mask, start, pos)
                else:
                    with self.raw.disable_adapter():
                        ref = completion_token_logps(model, ids, mask, start, pos)
        loss, info = grpo_loss(logps, logps.detach(), ref, cmask.float(), adv, g.beta, g.clip)
        info.update(reward=float(rewards.mean()), reward_std=float(rewards.view(-1, g.num_generations).std(1).mean()),
                    completion_tokens=float(cmask.sum(1).float().mean()))
        return loss, info


STAGES: dict[str, type[Stage]] = {"pretrain": Stage, "sft": Stage, "dpo": Pairs, "orpo": Pairs, "simpo": Pairs,
                                  "kto": KTO, "reward": Reward, "grpo": GRPO}


def make_stage(t: TrainConfig, tok, root: Path) -> Stage:
    return STAGES[t.stage](t, tok, root)


def example_tokens(exs: list[dict[str, Any]]) -> int:
    """Tokens the step computes on: every sequence of every example (GRPO: the prompts; completions are counted
    as they are generated)."""
    return sum(len(v) for e in exs for k, v in e.items() if k.endswith("input_ids") or k == "prompt_ids"
               if isinstance(v, np.ndarray))
