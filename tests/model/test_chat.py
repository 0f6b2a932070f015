"""One chat rendering for every template family: labels cover exactly the assistant contents and the
template's end-of-turn marker; a base SFT-trained through `zaomo train` and served by `zaomo serve` answers in
its own template and stops at its own end token (the official openai client checks it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.model.chat import IGNORE, ChatTemplateError, encode_chat, render, stop_ids, turn_end_ids
from zaomo.utils.io import write_jsonl
from zaomo.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from bases import FAMILIES, make_base, make_tokenizer  # noqa: E402
from conftest import ZaomoServe  # noqa: E402

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

    with ZaomoServe(ws.root, out) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused")
        model_id = client.models.list().data[0].id
        for q in ("你好", "Hello"):
            resp = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": q}],
                                                  max_tokens=20, temperature=0)
            assert resp.choices[0].message.content.strip() == "好的"
            assert resp.choices[0].finish_reason == "stop"  # stopped at its end token, not the length cap


def test_a_prefix_tuned_model_answers_through_zaomo_serve_and_eval_as_its_forward_says(tmp_path):
    """Prefix tuning cannot be merged: the adapter is served as it is, its virtual tokens a KV cache the batched
    engine starts from. The served greedy answer, and eval's batched `generate_chat`, equal a plain greedy
    decode through the PeftModel's own forward (which injects the prefix at every step)."""
    import openai
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zaomo.model.generate import generate_chat

    base = make_base(tmp_path, "llama3")
    ws = _workspace(tmp_path / "ws", base, ["train.max_steps=10", "train.method=prefix", "train.lr=1e-2",
                                            "train.prefix.num_virtual_tokens=4", "train.output_name=pfx",
                                            "model.seq_len=160"])
    r = CliRunner().invoke(app, ["train", "-w", str(ws.root)] + _sets(ws))
    assert r.exit_code == 0, r.output
    out = ws.root / "models" / "pfx-adapter"
    tok = AutoTokenizer.from_pretrained(out)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(out)).eval()
    msgs = [{"role": "user", "content": "你好"}]
    ids = tok(render(tok, msgs, True), add_special_tokens=False)["input_ids"]

    def greedy(m, n: int = 8) -> str:
        x = list(ids)
        with torch.no_grad():
            for _ in range(n):
                nxt = int(m(input_ids=torch.tensor([x])).logits[0, -1].argmax())
                if nxt in stop_ids(tok):
                    break
                x.append(nxt)
        return tok.decode(x[len(ids):], skip_special_tokens=True).strip()

    want = greedy(peft_model)
    assert want != greedy(AutoModelForCausalLM.from_pretrained(base).eval())  # the prefix changes the answer
    assert generate_chat(peft_model, tok, [msgs, [{"role": "user", "content": "Hello there, how are you"}]],
                         max_new_tokens=8)[0] == want  # batched, left-padded
    with ZaomoServe(ws.root, out) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused")
        resp = client.chat.completions.create(model=client.models.list().data[0].id, messages=msgs, max_tokens=8,
                                              temperature=0)
    assert resp.choices[0].message.content == want


def test_a_bad_chat_template_setting_names_the_key_and_the_fix(tmp_path):
    from zaomo.model.chat import set_template

    tok = make_tokenizer("llama3")
    with pytest.raises(ChatTemplateError, match=r"tokenizer.chat_template: 'chatm1' is neither"):
        set_template(tok, "chatm1")
    with pytest.raises(ChatTemplateError, match=r"tokenizer.chat_template: file .*missing.jinja not found"):
        set_template(tok, "missing.jinja", tmp_path)
    (tmp_path / "t.jinja").write_text("{% for m in messages %}{{ m['content'] }}<|eot_id|>{% endfor %}")
    assert set_template(tok, "t.jinja", tmp_path) == [] and render(tok, CONVO[1:3]) == "问一<|eot_id|>答一<|eot_id|>"
