"""One chat rendering for every template family: labels cover exactly the assistant contents and the
template's end-of-turn marker; a base SFT-trained through `zaomo train` and served by `zaomo serve` answers in
its own template and stops at its own end token (the official openai client checks it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.model.chat import IGNORE, ChatTemplateError, encode_chat, render, stop_ids, turn_end_ids
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from bases import FAMILIES, make_base, make_tokenizer  # noqa: E402

CONVO = [{"role": "system", "content": "你是助手。"}, {"role": "user", "content": "问一"},
         {"role": "assistant", "content": "答一"}, {"role": "user", "content": "问二"},
         {"role": "assistant", "content": "Answer two."}]
# what each family's model must learn to produce: its answers, each closed by the family's end-of-turn marker
LEARNED = {"chatml": "答一<|im_end|>Answer two.<|im_end|>", "llama3": "答一<|eot_id|>Answer two.<|eot_id|>",
           "gemma": "答一<end_of_turn>Answer two.<end_of_turn>", "mistral": " 答一</s> Answer two.</s>"}


def _learned(tok, ex) -> str:
    return tok.decode([t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_labels_are_exactly_the_assistant_turns_and_their_end_marker(family):
    tok = make_tokenizer(family)
    ex = encode_chat(tok, CONVO, 512)
    assert _learned(tok, ex) == LEARNED[family]
    # the unlabelled rest is the whole prompt side: system, users, headers, the template's own inserts
    prompt = tok.decode([t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab == IGNORE])
    for text in ("你是助手。", "问一", "问二"):
        assert text in prompt
    assert "答一" not in prompt and "Answer two" not in prompt
    # ids are what apply_chat_template itself produces for the conversation
    assert list(ex["input_ids"]) == list(tok(render(tok, CONVO), add_special_tokens=False)["input_ids"])
    # DPO scores only the last answer
    last = encode_chat(tok, CONVO, 512, last_only=True)
    end = FAMILIES[family][5]
    assert _learned(tok, last) == (" " if family == "mistral" else "") + "Answer two." + end


@pytest.mark.parametrize("family", list(FAMILIES))
def test_stop_ids_include_the_templates_end_of_turn(family):
    tok = make_tokenizer(family)
    end = tok.convert_tokens_to_ids(FAMILIES[family][5])
    assert turn_end_ids(tok) == [end]
    assert end in stop_ids(tok) and tok.eos_token_id in stop_ids(tok)


def test_template_inserts_are_not_learned():
    """Qwen-style default system prompt and Llama-3.1-style date lines: rendered, never labelled."""
    for family, insert in (("chatml", "You are a helpful assistant."), ("llama3", "Today Date:")):
        tok = make_tokenizer(family)
        ex = encode_chat(tok, CONVO[1:3], 512)
        assert insert in render(tok, CONVO[1:3])
        assert _learned(tok, ex) == "答一" + FAMILIES[family][5]


def test_truncation_keeps_labels_aligned():
    tok = make_tokenizer("llama3")
    full = encode_chat(tok, CONVO, 512)
    cut = encode_chat(tok, CONVO, 30)
    assert len(cut["input_ids"]) == 30
    assert list(cut["labels"]) == list(full["labels"][:30])


def test_a_base_without_a_chat_template_is_refused_with_the_fix(tmp_path):
    base = make_base(tmp_path, "llama3")
    cfg = base / "tokenizer_config.json"
    import json

    (base / "chat_template.jinja").unlink(missing_ok=True)
    d = json.loads(cfg.read_text())
    d.pop("chat_template", None)
    cfg.write_text(json.dumps(d))
    ws = _workspace(tmp_path / "ws", base, ["train.max_steps=1"])
    r = CliRunner().invoke(app, ["train", "-w", str(ws.root)] + _sets(ws))
    assert r.exit_code != 0
    assert "tokenizer.chat_template" in r.output and "chatml" in r.output
    # the fix the message names works: ChatML markers become new special tokens, embeddings grow
    r = CliRunner().invoke(app, ["train", "-w", str(ws.root)] + _sets(ws) + ["--set", "tokenizer.chat_template=chatml"])
    assert r.exit_code == 0, r.output
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = ws.root / "models" / "sft"
    tok = AutoTokenizer.from_pretrained(out)
    assert "<|im_end|>" in tok.get_vocab() and "<|im_start|>" in render(tok, CONVO[1:3])
    assert AutoModelForCausalLM.from_pretrained(out).get_input_embeddings().weight.shape[0] == len(tok)


def test_missing_template_error_type():
    tok = make_tokenizer("gemma")
    tok.chat_template = None
    with pytest.raises(ChatTemplateError, match="tokenizer.chat_template"):
        encode_chat(tok, CONVO, 64)


SFT = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "好的"}]}
       for q in ("你好", "请帮我", "Hello", "可以吗", "在吗", "Help me", "谢谢", "早上好")]


def _workspace(root: Path, base: Path, extra: list[str]) -> Workspace:
    ws = Workspace.init(root)
    write_jsonl(root / "data" / "sft" / "train.jsonl", SFT * 2)
    write_jsonl(root / "data" / "sft" / "val.jsonl", SFT[:4])
    ws.sets = ["project.device=cpu", f"model.base={base}", "model.seq_len=128", "train.stage=sft",
               "train.method=full", "train.batch_size=8", "train.lr=3e-3", "train.warmup_steps=0",
               "train.schedule=constant", "train.eval_every=10", "train.save_every=100",
               "train.val_file=data/sft/val.jsonl", "train.output_name=sft"] + extra
    return ws


def _sets(ws: Workspace) -> list[str]:
    return [a for s in ws.sets for a in ("--set", s)]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_sft_then_serve_answers_in_its_template_and_stops_at_its_end_token(tmp_path, family):
    import openai

    base = make_base(tmp_path, family)
    ws = _workspace(tmp_path / "ws", base, ["train.max_steps=40"])
    r = CliRunner().invoke(app, ["train", "-w", str(ws.root)] + _sets(ws))
    assert r.exit_code == 0, r.output
    out = ws.root / "models" / "sft"
    import json

    end = make_tokenizer(family).convert_tokens_to_ids(FAMILIES[family][5])
    assert end in json.loads((out / "generation_config.json").read_text())["eos_token_id"]

    port = _free_port()
    exe = Path(sys.executable).parent / "zaomo"
    proc = subprocess.Popen([str(exe), "serve", "-w", str(ws.root), "--port", str(port), "--model", str(out),
                             "--set", "project.device=cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "zaomo serve did not start"
            time.sleep(0.5)
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused")
        model_id = client.models.list().data[0].id
        for q in ("你好", "Hello"):
            resp = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": q}],
                                                  max_tokens=20, temperature=0)
            assert resp.choices[0].message.content.strip() == "好的"
            assert resp.choices[0].finish_reason == "stop"  # stopped at its end token, not the length cap
    finally:
        proc.terminate()
        proc.wait(timeout=30)
