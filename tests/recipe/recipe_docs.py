"""A small folder of bilingual documents, written by the test, and a workspace whose recipe runs on it with a
given base model (the session's tiny model, tests/conftest.py, as the LoRA base)."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

ZH_PLACES = ["临川", "青石", "白沙", "云岭", "南溪", "北塘", "东篱", "西陵", "松江", "枫桥"]
ZH_PEOPLE = ["王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴芳"]
EN_PLACES = ["Harlow", "Quincy", "Marlow", "Ostend", "Brampton", "Kestrel", "Dunmore", "Alder"]
EN_PEOPLE = ["Alice Moreau", "Bruno Keller", "Dana Ortiz", "Emil Novak", "Fatima Haddad", "Greta Lind"]


def document(i: int, rng: random.Random) -> str:
    """A short document with checkable facts (years, counts, dates, names), different words in each."""
    if i % 2 == 0:
        p, who = ZH_PLACES[i % len(ZH_PLACES)], ZH_PEOPLE[(i * 3) % len(ZH_PEOPLE)]
        kind = ["图书馆", "博物馆", "植物园", "天文台", "档案馆"][i % 5]
        return (f"{p}{kind}建于{rng.randint(1950, 2020)}年，第一任馆长是{who}。"
                f"馆内收藏了{rng.randint(2, 90)}万件藏品，主楼一共{rng.randint(3, 12)}层。\n\n"
                f"每年{rng.randint(1, 12)}月{rng.randint(1, 28)}日，{kind}都会举办开放日，通常有{rng.randint(200, 900)}名"
                f"市民参加。{p}的居民说，最受欢迎的展览讲的是{rng.choice(['长江', '黄河', '丝绸之路', '运河'])}的历史。")
    p, who = EN_PLACES[i % len(EN_PLACES)], EN_PEOPLE[i % len(EN_PEOPLE)]
    thing = ["Observatory", "Botanic Garden", "Maritime Museum", "Railway Archive"][i % 4]
    return (f"The {p} {thing} opened in {rng.randint(1950, 2020)} and has been directed by {who} since "
            f"{rng.randint(2000, 2022)}. Its collection counts {rng.randint(1000, 9000)} items from "
            f"{rng.randint(3, 40)} countries.\n\nEvery year on March {rng.randint(1, 28)}, about "
            f"{rng.randint(100, 900)} visitors come to the open day in {p}. The staff of {rng.randint(5, 60)} people "
            f"also run a small shop that sells maps of {rng.choice(['Norway', 'Portugal', 'Chile', 'Japan'])}.")


def write_documents(folder: Path, n: int, seed: int = 0, start: int = 0) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        p = folder / f"doc{i:02d}.txt"
        p.write_text(document(i, rng), encoding="utf-8")
        out.append(p)
    return out


RECIPE = {
    "project": {"name": "lib", "device": "cpu"},
    "data": {"inputs": ["docs"], "split": {"val_ratio": 0.3}, "workers": 1, "dedup": {"near": False}},
    "kb": {"sources": ["docs"], "top_k": 2, "context_tokens": 160},
    "model": {"seq_len": 192},
    "eval": {"max_new_tokens": 8, "tasks": ["perplexity", "qa", "safety"], "cloze": {"questions": 12}},
    "train": {"batch_size": 4, "lr": 0.003, "warmup_steps": 2, "max_steps": 10, "save_every": 5, "eval_every": 5,
              "log_every": 4},
    "pipeline": ["data", "kb", {"sft": {"method": "lora", "drills": 16}}, "eval"],
}


def make_workspace(root: Path, base_model: Path, n_docs: int = 14, **changes) -> Path:
    """A workspace whose zaomo.yaml holds RECIPE (sections updated by `changes`) over `n_docs` documents."""
    cfg = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in RECIPE.items()}
    cfg["model"]["base"] = str(base_model)
    for section, value in changes.items():
        cfg[section] = {**cfg[section], **value} if isinstance(value, dict) else value
    root.mkdir(parents=True, exist_ok=True)
    (root / "zaomo.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    write_documents(root / "docs", n_docs)
    return root
