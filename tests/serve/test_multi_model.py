"""Several models and a LoRA adapter behind one server: /v1/models lists them all and each request is answered
by the one its `model` names — alone or while the others decode at the same time, the adapter sharing its
base's weights (loaded once) but never a batch with it."""

from __future__ import annotations

import json
import threading

import openai
import pytest
import torch

from zaomo.serve.app import create_app
from zaomo.serve.engines import BuiltinEngine, GenParams
from zaomo.workspace import Workspace

ASK = [{"role": "user", "content": "研发部的负责人是谁？"}]


@pytest.fixture(scope="module")
def lora_dir(noisy_model_factory, tmp_path_factory):
    """A LoRA adapter over the seed-1 noisy model, with random (not zero) B so that it changes the answer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base_dir = noisy_model_factory(1)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    out = tmp_path_factory.mktemp("lora") / "adapter"
    peft.save_pretrained(out)
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(base_dir)
    return base_dir, out


def greedy(engine, n: int = 10) -> str:
    return "".join(x for x in engine.stream(ASK, GenParams(max_tokens=n)) if isinstance(x, str))


def test_two_models_and_an_adapter_each_answer_their_requests(tmp_path, noisy_model_factory, lora_dir, serve_app):
    base_dir, adapter = lora_dir
    other_dir = noisy_model_factory(3)
    want = {"base": greedy(BuiltinEngine(base_dir, device="cpu")),
            "other": greedy(BuiltinEngine(other_dir, device="cpu")),
            "tuned": greedy(BuiltinEngine(adapter, device="cpu"))}  # load_model merges the adapter: the reference
    assert len(set(want.values())) == 3  # three different answers to tell them apart

    engine = BuiltinEngine(base_dir, device="cpu", name="base", batch_wait_ms=50)
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=[
        "serve.guard=false", f"serve.models=[other={other_dir}, tuned={adapter}]"])
    app = create_app(ws, engine=engine)
    engines = app.state.gateway.engines
    assert engines["tuned"].model is engine.model  # the base's weights, not a copy
    with serve_app(app) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["base", "other", "tuned"]

        def ask(name: str) -> str:
            r = client.chat.completions.create(model=name, messages=ASK, max_tokens=10)
            assert r.model == name
            return r.choices[0].message.content

        assert {n: ask(n) for n in want} == want
        got: dict[str, list[str]] = {n: [] for n in want}  # all at once: base and adapter rows side by side

        def work(name: str) -> None:
            got[name].append(ask(name))

        threads = [threading.Thread(target=work, args=(n,)) for n in list(want) * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert got == {n: [w] * 3 for n, w in want.items()}
        assert engine.stats()["max_batch"] >= 2
        with pytest.raises(openai.NotFoundError) as e:
            client.chat.completions.create(model="nope", messages=ASK)
        assert "base, other, tuned" in str(e.value)
    with torch.no_grad():  # the base answers as the base again once the adapter's rows are gone
        assert greedy(engine) == want["base"]
