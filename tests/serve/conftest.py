"""Fixtures for the serving tests: a tiny model whose greedy text depends on the prompt, and a way to slow a
model down so that requests overlap."""

from __future__ import annotations

import time

import pytest
import torch

TEXTS = ["研发部的负责人是王建国。研发部位于总部大楼3楼。", "The head of the R&D Department is Wang Jianguo.",
         "你好！有什么可以帮你？", "Hello, how can I help you today?", "抱歉，这个请求我无法协助。"] * 20

def build_noisy_model(root, seed: int):
    """The tiny Llama with its matrices scaled up, so greedy text differs from prompt to prompt (a plain random
    init repeats one token whatever the prompt, which would let a mixed-up batch pass unnoticed)."""
    from zaomo.config.model import ModelConfig
    from zaomo.model.build import build_model
    from zaomo.model.load import save_model
    from zaomo.model.tokenizer import train_bpe

    tok = train_bpe(iter(TEXTS), 400, root / "tok", min_frequency=1, model_max_length=256)
    model = build_model(ModelConfig(preset="tiny", seq_len=256), tok, seed=seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(6.0)
    return save_model(model, tok, root / "model")


@pytest.fixture(scope="session")
def noisy_model_dir(tmp_path_factory):
    return build_noisy_model(tmp_path_factory.mktemp("noisy"), seed=0)


@pytest.fixture
def slow_down():
    return _slow_down


def _slow_down(engine, seconds: float, no_eos: bool = False) -> None:
    """Make every forward take a while (so requests overlap) and, optionally, never end at EOS."""
    eos = sorted(engine.eos)

    def hook(module, args, output):
        time.sleep(seconds)
        if no_eos:
            output.logits[..., eos] = float("-inf")
        return output

    engine.model.register_forward_hook(hook)

@pytest.fixture(scope="session")
def noisy_model_factory(tmp_path_factory):
    return lambda seed: build_noisy_model(tmp_path_factory.mktemp(f"noisy{seed}"), seed)
