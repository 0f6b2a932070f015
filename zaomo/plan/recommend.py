"""需求分析: from the goal, the data and the hardware to a route, a size and a recipe.

The rules, in order (docs/plan.md explains why):
1. a lot of in-domain text (≥ 100M tokens) and a GPU that can train ≥ 0.5B fully → continued pretraining;
2. `from_scratch` asked for (learning, licensing, a new language) → a preset sized by Chinchilla
   (≈ 20 tokens per parameter), capped by memory and the time budget;
3. enough QA / chat pairs (≥ 200) and a GPU → LoRA on the largest base that fits, QLoRA when 4-bit
   lets a clearly larger base fit;
4. otherwise, and always for domain QA, → RAG only (BM25 needs no model), with the smallest instruct
   model that runs for inference; on a CPU, a tiny preset trained from scratch shows the whole loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import apply_overrides, validate
from ..utils.io import atomic_write_text
from ..workspace import Workspace
from .hardware import Hardware
from .memory import inference_memory_gb, largest_model_that_fits, training_memory_gb

GOALS = ("domain-qa", "writing", "code", "translation", "chat")
# Suggested open base models by size (hub ids; downloaded by transformers where there is internet).
BASES = [(0.5e9, "Qwen/Qwen2.5-0.5B-Instruct"), (1.5e9, "Qwen/Qwen2.5-1.5B-Instruct"),
         (3.1e9, "Qwen/Qwen2.5-3B-Instruct"), (7.6e9, "Qwen/Qwen2.5-7B-Instruct"),
         (14.7e9, "Qwen/Qwen2.5-14B-Instruct"), (32.8e9, "Qwen/Qwen2.5-32B-Instruct")]
CODE_BASES = [(0.5e9, "Qwen/Qwen2.5-Coder-0.5B-Instruct"), (1.5e9, "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
              (7.6e9, "Qwen/Qwen2.5-Coder-7B-Instruct"), (14.7e9, "Qwen/Qwen2.5-Coder-14B-Instruct")]
# Approximate parameter counts of zaomo's presets (vocab as trained; see zaomo/model/presets.py).
PRESET_PARAMS = {"tiny": 0.5e6, "10m": 10e6, "minimind": 64e6, "124m": 124e6, "350m": 350e6, "1b": 1.1e9}
CHARS_PER_TOKEN = 2.0  # mixed Chinese/English text with a ~32k-150k BPE vocabulary
TOKENS_PER_PAIR = 300
MFU = {"cuda": 0.35, "mps": 0.15, "cpu": 0.10}


@dataclass
class DataInventory:
    documents_chars: int = 0
    qa_pairs: int = 0
    preference_pairs: int = 0
    tokens: int = 0  # 0 = estimate from characters

    @property
    def estimated_tokens(self) -> int:
        return self.tokens or int(self.documents_chars / CHARS_PER_TOKEN)


@dataclass
class Plan:
    goal: str
    route: str  # rag | lora | qlora | continued-pretraining | from-scratch
    reason: str
    base_model: str | None
    preset: str | None
    params: float
    train_tokens: float
    flops: float
    memory_gb: float
    hours: float
    recipe: list[str] = field(default_factory=list)  # `key=value` overrides for zaomo.yaml
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count_jsonl(path: Path) -> int:
    n = 0
    for f in ([path] if path.is_file() else sorted(path.rglob("*.jsonl")) if path.is_dir() else []):
        with open(f, "rb") as fh:
            n += sum(1 for line in fh if line.strip())
    return n


def inventory(ws: Workspace) -> DataInventory:
    """Measure what the workspace holds, cheaply: characters of documents, lines of QA and preferences."""
    chars = 0
    for inp in ws.cfg.data.inputs:
        p = ws.path(inp)
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else []
        for f in files:
            # bytes → characters: UTF-8 Chinese is 3 bytes a character, English 1; 2 is the middle.
            chars += f.stat().st_size // (2 if f.suffix in (".txt", ".md", ".jsonl", ".json", ".csv") else 4)
    return DataInventory(documents_chars=chars, qa_pairs=_count_jsonl(ws.root / "data" / "sft"),
                         preference_pairs=_count_jsonl(ws.root / "data" / "prefs"))


def _base_for(params: float, goal: str) -> tuple[float, str]:
    table = CODE_BASES if goal == "code" else BASES
    fitting = [b for b in table if b[0] <= params * 1.15]
    return fitting[-1] if fitting else table[0]


def _hours(flops: float, hw: Hardware) -> float:
    peak = max(hw.peak_tflops, 0.05) * 1e12
    return flops / (peak * MFU.get(hw.device, 0.1)) / 3600


def make_plan(goal: str, data: DataInventory, hw: Hardware, budget_hours: float | None = None,
              from_scratch: bool = False) -> Plan:
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {', '.join(GOALS)}; got {goal!r}")
    mem = hw.accelerator_memory_gb
    tokens = data.estimated_tokens
    gpu = hw.device == "cuda"
    notes: list[str] = []

    if gpu and tokens >= 100e6 and not from_scratch and largest_model_that_fits(mem, "full") >= 0.5e9:
        n = largest_model_that_fits(mem, "full")
        if budget_hours:
            while n > 0.125e9 and _hours(6 * n * tokens, hw) > budget_hours:
                n = max(c for c in (0.125e9, 0.5e9, 1.24e9, 3.2e9, 6.74e9) if c < n)
        n, base = _base_for(n, goal)
        d = float(tokens)
        return _finish(Plan(goal, "continued-pretraining",
                            f"{tokens / 1e6:.0f}M tokens of in-domain text is enough to move a base model's "
                            f"knowledge; {mem:.0f} GB trains a {n / 1e9:.1f}B model fully",
                            base, None, n, d, 6 * n * d, training_memory_gb(n, "full"), _hours(6 * n * d, hw),
                            [f"model.base={base}", "tokenizer.kind=pretrained", "train.stage=pretrain",
                             "train.method=full", "train.lr=2e-5", "train.grad_checkpointing=true",
                             _pipeline(goal, "pretrain")], notes), hw)

    if from_scratch or (not gpu and data.qa_pairs < 200 and goal != "domain-qa"):
        cap = largest_model_that_fits(mem, "full-fp32" if not gpu else "full")
        chinchilla = max(tokens, 1) / 20
        candidates = [p for p, n in PRESET_PARAMS.items() if n <= max(chinchilla, PRESET_PARAMS["tiny"])
                      and (n <= cap or p == "tiny")]
        preset = candidates[-1] if candidates else "tiny"
        if not gpu and preset not in ("tiny", "10m"):
            preset = "10m"
            notes.append("no GPU: presets above 10m would take days on a CPU")
        if budget_hours:
            while preset != "tiny" and _hours(6 * PRESET_PARAMS[preset] * max(tokens, 20 * PRESET_PARAMS[preset]),
                                              hw) > budget_hours:
                preset = list(PRESET_PARAMS)[list(PRESET_PARAMS).index(preset) - 1]
        n = PRESET_PARAMS[preset]
        d = float(max(tokens * 2, 20 * n))  # ≈ 20 tokens/param; repeat small corpora a few epochs
        route = "from-scratch"
        reason = (f"from scratch: preset {preset} ({n / 1e6:.1f}M params) sized by ~20 tokens per parameter "
                  f"for {tokens / 1e6:.2f}M tokens")
        recipe = [f"model.preset={preset}", "tokenizer.kind=bpe", "train.stage=pretrain", "train.method=full",
                  _pipeline(goal, "tokenizer, pretrain", "sft")]
        if goal == "domain-qa":
            recipe += ["kb.retriever=bm25"]
            notes.append("domain QA: add the knowledge base (zaomo kb build) — it needs no training")
        return _finish(Plan(goal, route, reason, None, preset, n, d, 6 * n * d,
                            training_memory_gb(n, "full-fp32" if not gpu else "full", seq_len=256, batch=8),
                            _hours(6 * n * d, hw), recipe, notes), hw)

    if data.qa_pairs >= 200:
        n_lora = largest_model_that_fits(mem, "lora")
        n_qlora = largest_model_that_fits(mem, "qlora") if gpu else 0.0
        use_q = n_qlora >= 2 * max(n_lora, 1)
        if use_q and not hw.extras.get("bitsandbytes", False):
            notes.append("QLoRA needs bitsandbytes: pip install 'zaomo[gpu]'")
        n = min(n_qlora if use_q else n_lora, 14.7e9 if gpu else 0.5e9)
        if not gpu:
            notes.append("no GPU: LoRA on a 0.5B base is the most a CPU trains in hours, not days")
        n, base = _base_for(n, goal)
        d = float(max(data.qa_pairs, 1) * TOKENS_PER_PAIR * 3)
        method = "qlora" if use_q else "lora"
        reason = (f"{data.qa_pairs} QA pairs teach format and style well with {method.upper()}; "
                  f"{mem:.0f} GB fits a {n / 1e9:.1f}B base with {method}")
        recipe = [f"model.base={base}", "tokenizer.kind=pretrained", "train.stage=sft", f"train.method={method}",
                  "train.lr=2e-4", "train.lora.r=16", "train.lora.alpha=32",
                  f"project.device={'cuda' if gpu else 'cpu'}", _pipeline(goal, "sft")]
        if goal == "domain-qa":
            recipe.append("kb.retriever=bm25")
            notes.append("domain QA: facts change; keep them in the knowledge base and let LoRA teach the style")
        if data.preference_pairs >= 200:
            notes.append(f"{data.preference_pairs} preference pairs: follow with train.stage=dpo")
        return _finish(Plan(goal, method, reason, base, None, n, d, 6 * n * d,
                            training_memory_gb(n, method), _hours(6 * n * d, hw), recipe, notes), hw)

    # RAG only: the smallest instruct model that serves here, no training.
    n = 0.5e9 if largest_model_that_fits(mem, "inference") >= 0.5e9 else 0.125e9
    n, base = _base_for(n, goal)
    notes.append(f"collect ≥ 200 QA pairs (have {data.qa_pairs}) to make fine-tuning worth it")
    return _finish(Plan(goal, "rag", "too little supervised data for fine-tuning to beat retrieval; "
                        "a knowledge base over the documents answers with citations and needs no training",
                        base, None, n, 0.0, 0.0, inference_memory_gb(n), 0.0,
                        [f"model.base={base}", "tokenizer.kind=pretrained", "kb.retriever=bm25",
                         "pipeline=[data, kb, eval]"], notes), hw)


def _pipeline(goal: str, train: str, after_kb: str = "") -> str:
    """The `pipeline:` of a route for `zaomo run`: domain QA always gets the knowledge base, built before the
    stages that read it (SFT drills are asked with its passages)."""
    if goal != "domain-qa":
        return f"pipeline=[data, {train}{', ' + after_kb if after_kb else ''}, eval]"
    if train == "sft":
        return "pipeline=[data, kb, sft, eval]"
    return f"pipeline=[data, {train}, kb{', ' + after_kb if after_kb else ''}, eval]"


def _finish(plan: Plan, hw: Hardware) -> Plan:
    if plan.memory_gb > hw.accelerator_memory_gb:
        plan.notes.append(f"estimated {plan.memory_gb:.1f} GB exceeds the {hw.accelerator_memory_gb:.1f} GB here")
    return plan


def apply_plan(ws: Workspace, plan: Plan) -> list[str]:
    """Write the plan's recipe into zaomo.yaml; returns the keys whose value changed."""
    before = ws.cfg.model_dump(mode="json")
    cfg = validate(apply_overrides(before, plan.recipe), f"plan recipe ({plan.route})")
    after = cfg.model_dump(mode="json")
    changed = [o.split("=", 1)[0] for o in plan.recipe if _get(before, o) != _get(after, o)]
    ws.cfg = cfg
    ws.save_config()
    atomic_write_text(ws.root / "plan.md", render_plan(plan))
    return changed


def _get(d: dict, override: str) -> Any:
    for part in override.split("=", 1)[0].split("."):
        d = d.get(part, {}) if isinstance(d, dict) else None
    return d


def render_plan(plan: Plan) -> str:
    lines = [f"# Plan: {plan.route} for {plan.goal}", "", plan.reason, "",
             f"- base model: {plan.base_model or '—'}", f"- preset: {plan.preset or '—'}",
             f"- parameters: {plan.params / 1e6:,.0f} M", f"- training tokens: {plan.train_tokens / 1e6:,.1f} M",
             f"- compute: {plan.flops:.3g} FLOPs (6·N·D)", f"- memory: {plan.memory_gb:.1f} GB",
             f"- time: {plan.hours:.2f} h", "", "## Recipe", "", *[f"    {r}" for r in plan.recipe]]
    if plan.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in plan.notes]]
    return "\n".join(lines) + "\n"
