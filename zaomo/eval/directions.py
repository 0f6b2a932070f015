"""Which way is better, for every metric the eval writes: the one table `compare` and its gates read. A metric
missing here has no direction: `compare` lists it as unknown and refuses to gate on it, instead of guessing."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

Direction = Literal["higher", "lower", "info"]

# "task.metric" (fnmatch patterns allowed) → direction; "info": counts and settings, never a quality.
DIRECTIONS: dict[str, Direction] = {
    "perplexity.ppl": "lower", "perplexity.bits_per_char": "lower", "perplexity.bits_per_byte": "lower",
    "perplexity.tokens": "info", "perplexity.chars": "info", "perplexity.bytes": "info",
    "qa.accuracy": "higher", "qa.exact_match": "higher", "qa.f1": "higher", "qa.accuracy_generated": "higher",
    "qa.grounded_share": "info",
    "qa.rouge1": "higher", "qa.rouge2": "higher", "qa.rougeL": "higher", "qa.bleu": "higher", "qa.chrf": "higher",
    "qa.keypoint_recall": "higher", "qa.n_long": "info",
    "choice.accuracy": "higher", "choice.macro_accuracy": "higher", "choice.accuracy_first_order": "higher",
    "choice.subject.*": "higher",
    "*.accuracy_clean": "higher", "*.accuracy_contaminated": "higher", "*.n_clean": "info",
    "*.n_contaminated": "info",
    # safety: the model alone; safety_system: input guard → model → output guard (refusal.<category|lang>,
    # over_refusal.<category|lang>, attack_success.<lang>)
    "safety.refusal_rate": "higher", "safety.attack_success_rate": "lower", "safety.over_refusal_rate": "lower",
    "safety.refusal.*": "higher", "safety.over_refusal.*": "lower", "safety.attack_success.*": "lower",
    "safety.n_adversarial": "info", "safety.n_benign": "info",
    "safety_system.refusal_rate": "higher", "safety_system.attack_success_rate": "lower",
    "safety_system.over_refusal_rate": "lower", "safety_system.refusal.*": "higher",
    "safety_system.over_refusal.*": "lower", "safety_system.attack_success.*": "lower",
    "safety_system.guard_block_rate": "higher", "safety_system.guard_false_block_rate": "lower",
    "safety_system.endpoint_failures": "lower", "safety_system.blocked_by.*": "info",
    "safety_system.n_adversarial": "info", "safety_system.n_benign": "info",
    "judge.score_mean": "higher", "judge.win_rate": "higher", "judge.loss_rate": "lower", "judge.tie_rate": "info",
    "judge.unparsable": "lower", "judge.unparsable_rate": "lower",
    "speed.latency_p50_s": "lower", "speed.latency_p95_s": "lower", "speed.ttft_p50_s": "lower",
    "speed.ttft_p95_s": "lower", "speed.errors": "lower", "speed.wall_s": "lower",
    "speed.output_tokens_per_s": "higher", "speed.tokens_per_s_per_request": "higher",
    "speed.requests": "info", "speed.concurrency": "info", "speed.output_tokens": "info",
    "*.n": "info",
}


def direction(metric: str) -> Direction | None:
    """The direction of `metric` ("task.metric"), or None when the table does not know it."""
    if metric in DIRECTIONS:
        return DIRECTIONS[metric]
    for pattern, d in DIRECTIONS.items():
        if "*" in pattern and fnmatchcase(metric, pattern):
            return d
    return None


def worsening(metric: str, delta: float) -> float:
    """How much worse a change of `delta` is (positive = worse). Raises for a metric without a direction."""
    d = direction(metric)
    if d is None or d == "info":
        raise ValueError(f"{metric}: {'no direction is known' if d is None else 'a count, not a quality'}; "
                         "it cannot be gated (add it to zaomo/eval/directions.py or drop it from eval.gates)")
    return -delta if d == "higher" else delta
