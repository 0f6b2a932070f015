"""Perplexity, bits per character and bits per byte with a strided sliding window (as in the Hugging Face
perplexity guide): each window of up to `max_length` tokens moves by `stride`, keeps the tokens before the new
ones as context and scores only the new ones, so every token after the first is scored once and with context.

Only what is scored is counted: the first token of a text has nothing to be predicted from, so its characters
and bytes are left out of the denominators (a text of one token adds nothing). Counting them would flatter the
model — a uniform model over 256 one-character tokens would report fewer than 8 bits per character.
The loss is taken in chunks of positions, so full-vocabulary float logits never exist for a long text at once."""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F


def _scored_prefix_chars(tok, text: str, ids: list[int]) -> int:
    """Characters of `text` covered by the first (unscored) token."""
    try:
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(offsets) == len(ids):
            return int(offsets[1][0])
    except (NotImplementedError, KeyError, TypeError, ValueError):
        pass
    first = tok.decode(ids[:1])
    return len(first) if text.startswith(first) else 0


def _window_logits(model, x: torch.Tensor, keep: int) -> torch.Tensor:
    """Logits of the last `keep` positions only when the model can skip the others (HF `logits_to_keep`)."""
    params = inspect.signature(model.forward).parameters
    if "logits_to_keep" in params:
        return model(input_ids=x, logits_to_keep=keep, use_cache=False).logits[0, -keep:]
    return model(input_ids=x).logits[0, -keep:]


def text_nll(model, ids: list[int], max_length: int, stride: int, chunk: int = 256) -> float:
    """Negative log-likelihood (nats) of ids[1:], each token predicted from up to `max_length - 1` tokens before
    it, in windows that advance by `stride`."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    n, nll, prev_end = len(ids), 0.0, 1  # token 0 is never a target
    for begin in range(0, n, stride):
        end = min(begin + max_length, n)
        new = end - prev_end  # targets ids[prev_end:end], predicted at positions prev_end-1 … end-2
        if new > 0:
            x = torch.tensor([ids[begin:end]], device=device)
            with torch.inference_mode():
                logits = _window_logits(model, x, new + 1)[:-1]  # positions predicting the new tokens
                targets = x[0, -new:]
                for c in range(0, new, chunk):
                    nll += float(F.cross_entropy(logits[c:c + chunk].float(), targets[c:c + chunk],
                                                 reduction="sum"))
        prev_end = end
        if end == n:
            break
    return nll


def perplexity(model, tok, texts: list[str], max_length: int, stride: int | None = None,
               chunk: int = 256) -> dict[str, float]:
    """Token perplexity, bits per character and bits per byte (UTF-8) over the scored tokens of `texts`.
    `stride` defaults to half of `max_length`; stride == max_length - 1 is plain non-overlapping scoring."""
    if max_length < 2:
        raise ValueError(f"perplexity needs a window of at least 2 tokens, got max_length={max_length}")
    stride = min(stride or max(1, max_length // 2), max_length - 1)
    nll, ntok, nchar, nbyte = 0.0, 0, 0, 0
    for t in texts:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        if len(ids) < 2:
            continue
        nll += text_nll(model, ids, max_length, stride, chunk)
        ntok += len(ids) - 1
        scored = t[_scored_prefix_chars(tok, t, ids):]
        nchar += len(scored)
        nbyte += len(scored.encode("utf-8"))
    bits = nll / math.log(2)
    return {"ppl": math.exp(nll / ntok) if ntok else float("nan"),
            "bits_per_char": bits / nchar if nchar else float("nan"),
            "bits_per_byte": bits / nbyte if nbyte else float("nan"),
            "tokens": ntok, "chars": nchar, "bytes": nbyte}
