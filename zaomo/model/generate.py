"""Batched chat generation with left padding that stops at EOS — used by eval, chat and the built-in
engine's simple path."""

from __future__ import annotations

from .chat import render, stop_ids
from .prefix import split_prefix


def generate_chat(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 64,
                  temperature: float = 0.0, top_p: float = 1.0, stop: list[str] | None = None,
                  seed: int | None = None, max_context: int | None = None) -> list[str]:
    prompts = [render(tokenizer, c, add_generation_prompt=True) for c in conversations]
    return generate_text(model, tokenizer, prompts, max_new_tokens, temperature, top_p, stop, seed, max_context)


def generate_text(model, tokenizer, prompts: list[str], max_new_tokens: int = 64, temperature: float = 0.0,
                  top_p: float = 1.0, stop: list[str] | None = None, seed: int | None = None,
                  max_context: int | None = None) -> list[str]:
    import torch

    limit = max_context or getattr(model.config, "max_position_embeddings", 2048)
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    keep = max(1, limit - max_new_tokens)
    ids, mask = enc["input_ids"][:, -keep:], enc["attention_mask"][:, -keep:]
    if seed is not None:
        torch.manual_seed(seed)
    extra = {}
    eos = stop_ids(tokenizer, model)
    model, prefix, P = split_prefix(model)
    if prefix is not None:  # P placeholder ids stand for the cached prefix; generate skips what is cached
        ids = torch.cat([ids.new_full((len(ids), P), tokenizer.pad_token_id), ids], 1)
        mask = torch.cat([mask.new_ones((len(mask), P)), mask], 1)
        extra["past_key_values"] = prefix(len(ids))
    with torch.no_grad():
        out = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), **extra,
                             max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                             temperature=temperature if temperature > 0 else None,
                             top_p=top_p if temperature > 0 else None, eos_token_id=eos,
                             pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
    if stop:
        for i, t in enumerate(texts):
            cut = min((t.find(s) for s in stop if s in t), default=-1)
            if cut >= 0:
                texts[i] = t[:cut]
    return [t.strip() for t in texts]
