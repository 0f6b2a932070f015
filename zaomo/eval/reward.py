"""A trained reward model (`train.stage=reward`) in use: score answers to a prompt, rank them, and measure its
pairwise accuracy on held-out preference pairs (the share where it scores the chosen answer above the
rejected one — the number reward-model papers report)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..model.chat import render
from ..utils.io import InputError, iter_jsonl


@dataclass
class RewardScorer:
    model: object
    tokenizer: object

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> RewardScorer:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path).to(device).eval()
        if model.config.num_labels != 1:
            raise ValueError(f"{path} is not a reward model (num_labels={model.config.num_labels}, expected 1): "
                             "train one with train.stage=reward")
        return cls(model, tok)

    @torch.no_grad()
    def score(self, prompt: list[dict] | str, answers: list[str], batch_size: int = 16) -> list[float]:
        """One scalar per answer, higher is better; the conversation is rendered with the model's template."""
        msgs = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        texts = [render(self.tokenizer, msgs + [{"role": "assistant", "content": a}]) for a in answers]
        self.tokenizer.padding_side = "right"
        out: list[float] = []
        for s in range(0, len(texts), batch_size):
            enc = self.tokenizer(texts[s:s + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            out += self.model(**enc).logits[:, 0].float().tolist()
        return out

    def rank(self, prompt: list[dict] | str, answers: list[str]) -> list[tuple[str, float]]:
        scores = self.score(prompt, answers)
        return sorted(zip(answers, scores), key=lambda x: -x[1])


def pairwise_accuracy(scorer: RewardScorer, pairs: Path) -> dict[str, float]:
    """Share of pairs whose chosen answer scores above the rejected one, and the mean margin."""
    right, margins = 0, []
    for n, rec in enumerate(iter_jsonl(pairs), 1):
        if not all(k in rec for k in ("prompt", "chosen", "rejected")):
            raise InputError(pairs, n, f"preference record needs prompt, chosen, rejected; has {sorted(rec)}")
        c, r = scorer.score(rec["prompt"], [rec["chosen"], rec["rejected"]])
        right += c > r
        margins.append(c - r)
    if not margins:
        raise InputError(pairs, None, "no preference pairs")
    return {"pairwise_accuracy": right / len(margins), "mean_margin": sum(margins) / len(margins),
            "pairs": float(len(margins))}
