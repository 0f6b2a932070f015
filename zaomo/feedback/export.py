"""Feedback → training data. Corrections and well-rated answers become SFT records; a correction or a
well-rated answer paired with a poorly-rated answer to the same prompt becomes a DPO pair; every rated answer
(and every correction, as a good one) is also a KTO example on its own, so unpaired thumbs count. Every text is
normalised like the data pipeline and passes the same safety policy and decontamination; rejects go to a
quarantine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from ..data.decontam import NgramIndex
from ..data.normalize import normalize_text
from ..records import Feedback
from ..safety import Guard
from ..utils.io import write_jsonl
from ..workspace import Workspace


@dataclass
class ExportResult:
    sft_path: Path
    dpo_path: Path
    quarantine_path: Path
    kto_path: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _prompt(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m.get("role") in ("system", "user", "assistant")]


def export_feedback(ws: Workspace) -> ExportResult:
    out = ws.root / "data" / "feedback"
    guard = Guard(ws.cfg.safety, ws.root)
    decon = NgramIndex.from_eval_dir(ws.eval_data_dir)
    sft, dpo, kto, rejected = [], [], [], []
    good_by_prompt: dict[str, str] = {}
    bad_by_prompt: dict[str, str] = {}
    with ws.registry.session.begin() as s:
        rows = list(s.scalars(select(Feedback).where(Feedback.status == "new").order_by(Feedback.id)))
        for fb in rows:
            norm = ws.cfg.data.normalize
            prompt = [{**m, "content": normalize_text(m.get("content", ""), norm)} for m in _prompt(fb.messages or [])]
            key = json.dumps(prompt, ensure_ascii=False)
            target = fb.correction or (fb.answer if fb.rating == 1 else None)
            target = normalize_text(target, norm) if target else target
            if fb.rating == -1 and fb.answer:
                bad_by_prompt[key] = fb.answer
                hits = decon.overlaps("\n".join(m["content"] for m in prompt) + "\n" + fb.answer) if prompt else []
                if hits:  # an example of what not to say may be unsafe, but it must not leak the eval sets
                    rejected.append({"feedback_id": fb.id, "step": "decontaminate", "reason": "KTO example overlaps "
                                     f"eval items {', '.join(hits[:3])}", "messages": prompt, "answer": fb.answer})
                elif prompt:
                    kto.append({"id": f"fbkto-{fb.id}", "prompt": prompt, "completion": fb.answer, "label": False})
            if not target or not prompt:
                fb.status = "exported"
                continue
            text = "\n".join(m["content"] for m in prompt) + "\n" + target
            g = guard.check(text, where="data")
            hits = decon.overlaps(text)
            if not g.allowed or hits:
                reason = g.reason if not g.allowed else f"overlaps eval items {', '.join(hits[:3])}"
                rejected.append({"feedback_id": fb.id, "step": "safety" if not g.allowed else "decontaminate",
                                 "reason": reason, "messages": prompt, "target": target})
                fb.status = "rejected"
                continue
            target = guard.check(target, where="data").text  # PII masked
            sft.append({"id": f"fb-{fb.id}", "messages": prompt + [{"role": "assistant", "content": target}]})
            kto.append({"id": f"fbkto-good-{fb.id}", "prompt": prompt, "completion": target, "label": True})
            good_by_prompt[key] = target
            fb.status = "exported"
        for key, good in good_by_prompt.items():
            if key in bad_by_prompt and bad_by_prompt[key] != good:
                dpo.append({"id": f"fbpair-{len(dpo)}", "prompt": json.loads(key), "chosen": good,
                            "rejected": bad_by_prompt[key]})
    res = ExportResult(out / "sft.jsonl", out / "dpo.jsonl", out / "quarantine.jsonl", out / "kto.jsonl")
    write_jsonl(res.sft_path, sft)
    write_jsonl(res.dpo_path, dpo)
    write_jsonl(res.kto_path, kto)
    write_jsonl(res.quarantine_path, rejected)
    res.counts = {"feedback": len(rows), "sft": len(sft), "dpo": len(dpo), "kto": len(kto), "rejected": len(rejected)}
    return res
