"""lm-evaluation-harness bridge: its tasks on a zaomo model directory through its Hugging Face backend, so
users get the numbers leaderboards report. Needs `pip install 'zaomo[harness]'`; tasks from the hub need
internet, tasks defined in a local folder (`include_path`, YAML + local data files) do not."""

from __future__ import annotations

from pathlib import Path

from ..utils.env import optional_import


def run_harness(model_dir: str | Path, tasks: list[str], include_path: str | Path | None = None,
                device: str = "cpu", batch_size: int = 8, num_fewshot: int | None = None,
                limit: int | None = None, dtype: str = "auto") -> dict:
    """{task: {metric: value}} from lm_eval.simple_evaluate, plus its config under '_config'."""
    lm_eval = optional_import("lm_eval", "harness", "zaomo eval --harness")
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(include_path) if include_path else None)
    from ..model.load import resolve_dtype

    torch_dtype = str(resolve_dtype(dtype, device)).removeprefix("torch.")  # model.dtype, as the loader does
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype={torch_dtype}", tasks=tasks,
                                  task_manager=tm, device=device, batch_size=batch_size,
                                  num_fewshot=num_fewshot, limit=limit, log_samples=False)
    res = {t: {k: v for k, v in m.items() if isinstance(v, int | float)} for t, m in out["results"].items()}
    res["_config"] = {"tasks": tasks, "num_fewshot": num_fewshot, "limit": limit,
                      "lm_eval": getattr(lm_eval, "__version__", "?")}
    return res


TASK_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}\\n答案："
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
"""


def write_choice_task(folder: str | Path, name: str, items: list[dict]) -> Path:
    """A local lm-eval multiple-choice task from items {question, choices, answer (index)}: the prompt is
    "question\\n答案：" and each choice is scored as " choice". Returns the folder for `include_path`."""
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    (folder / f"{name}.yaml").write_text(TASK_YAML.format(name=name, data=data), encoding="utf-8")
    return folder
