"""评估: perplexity, multiple choice, QA, Chinese-correct text metrics, safety; reports and gates."""

from .runner import EvalReport, run_eval

__all__ = ["EvalReport", "run_eval"]
