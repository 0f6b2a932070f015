"""The one chat rendering: a conversation → the tokenizer's own chat template → token ids, with labels on
exactly what the assistant says (its contents and the template's end-of-turn marker).

Training (SFT, DPO), evaluation, knowledge-base prompts and serving all go through here, so a Llama-3,
Gemma, Mistral or Qwen base is trained in the format it is served in and learns its own end token.

Assistant spans are found by rendering the conversation prefix by prefix (the generation prompt of turn i
is where the assistant starts speaking; the first special token after its content is where it stops), so any
Jinja template works — including ones that add text of their own (date lines, default system prompts) —
without per-family rules. Tokens are mapped to characters with the fast tokenizer's offsets, which is how
`apply_chat_template` itself tokenizes (the whole rendered text, `add_special_tokens=False`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

IGNORE = -100

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
NAMED = {"chatml": CHATML}
HOW_TO_SET = ("set tokenizer.chat_template in zaomo.yaml to 'chatml', to the path of a .jinja file, or to a Jinja "
              "template string (for example `--set tokenizer.chat_template=chatml`)")


class ChatTemplateError(ValueError):
    """The tokenizer has no usable chat template; the message says how to give it one."""


def template_source(spec: str, base: Path | None = None) -> str:
    """A template from a name ('chatml'), a .jinja file (relative to `base`), or the Jinja text itself."""
    if spec in NAMED:
        return NAMED[spec]
    p = Path(spec) if base is None or Path(spec).is_absolute() else base / spec
    if spec.endswith((".jinja", ".j2", ".txt")):
        if not p.exists():
            raise ChatTemplateError(f"tokenizer.chat_template: file {p} not found; {HOW_TO_SET}")
        return p.read_text(encoding="utf-8")
    if "{%" in spec or "{{" in spec:
        return spec
    raise ChatTemplateError(f"tokenizer.chat_template: {spec!r} is neither a known name ({', '.join(NAMED)}), "
                            f"a .jinja file, nor a Jinja template; {HOW_TO_SET}")


def set_template(tokenizer, spec: str, base: Path | None = None) -> list[str]:
    """Give `tokenizer` a template; ChatML's markers become special tokens if the vocabulary lacks them.
    Returns the tokens added (the caller resizes the model's embeddings when there are any)."""
    src = template_source(spec, base)
    added: list[str] = []
    if src == CHATML:
        vocab = tokenizer.get_vocab()
        added = [t for t in ("<|im_start|>", "<|im_end|>") if t not in vocab]
        if added:
            tokenizer.add_special_tokens({"additional_special_tokens": added})
    tokenizer.chat_template = src
    return added


def ensure_template(tokenizer, where: str = "") -> None:
    if not getattr(tokenizer, "chat_template", None):
        src = where or getattr(tokenizer, "name_or_path", "") or "this model"
        raise ChatTemplateError(f"the tokenizer of {src} has no chat template, so conversations cannot be "
                                f"rendered; {HOW_TO_SET}")


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False,
           tools: list[dict] | None = None) -> str:
    """The conversation as the template writes it; `tools` (OpenAI function definitions) go to templates that
    render them."""
    ensure_template(tokenizer)
    kw = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt, **kw)


def prompt_ids(tokenizer, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
    """What a model is given to answer `messages`: the template with its generation prompt, tokenized as
    `apply_chat_template` does (no extra special tokens: the template places BOS itself)."""
    return list(tokenizer(render(tokenizer, messages, True, tools), add_special_tokens=False)["input_ids"])


def _special_strings(tokenizer) -> list[str]:
    out = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for tok in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).values():
        if getattr(tok, "special", False):
            out.add(str(tok))
    return sorted((s for s in out if s), key=len, reverse=True)


def _first_special(text: str, specials: list[str]) -> tuple[int, int] | None:
    """(start, end) of the earliest special-token string in `text`."""
    best: tuple[int, int] | None = None
    for s in specials:
        i = text.find(s)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, i + len(s))
    return best


def _render_or_empty(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    if not messages:
        try:
            return render(tokenizer, [], add_generation_prompt)
        except Exception:  # noqa: BLE001 - many templates refuse an empty conversation
            return ""
    return render(tokenizer, messages, add_generation_prompt)


def assistant_spans(tokenizer, messages: list[dict], last_only: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans the model must learn to produce: from where the
    generation prompt of each assistant turn ends to the end of the template's end-of-turn marker."""
    full = render(tokenizer, messages)
    specials = _special_strings(tokenizer)
    spans: list[tuple[int, int]] = []
    turns = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if last_only:
        turns = turns[-1:]
    for i in turns:
        before = _render_or_empty(tokenizer, messages[:i], True)
        if not full.startswith(before):
            raise ChatTemplateError(
                f"the chat template renders turn {i} differently once later turns follow, so the assistant's part "
                f"cannot be located; use a template whose earlier turns do not change ({HOW_TO_SET})")
        start = len(before)
        content = str(messages[i].get("content") or "").strip()
        c = full.find(content, start) if content else start
        if c < 0:
            raise ChatTemplateError(f"the chat template does not render assistant turn {i}'s content verbatim")
        c_end = c + len(content)
        upto = render(tokenizer, messages[:i + 1])
        limit = len(upto) if full.startswith(upto) and len(upto) > c_end else len(full)
        closing = full[c_end:limit]
        hit = _first_special(closing, specials)
        end = c_end + hit[1] if hit else c_end + len(closing.rstrip())
        spans.append((start, end))
    return full, spans


def encode_chat(tokenizer, messages: list[dict], max_len: int, last_only: bool = False) -> dict[str, np.ndarray]:
    """Token ids of the rendered conversation and labels (IGNORE except on the assistant spans)."""
    full, spans = assistant_spans(tokenizer, messages, last_only)
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids = list(enc["input_ids"])
        learn = [any(s < b and e > a for a, b in spans) for s, e in enc["offset_mapping"]]
    else:  # slow tokenizers have no offsets: tokenize the pieces between span boundaries separately
        ids, learn, pos = [], [], 0
        for a, b in spans + [(len(full), len(full))]:
            for piece, lab in ((full[pos:a], False), (full[a:b], True)):
                if piece:
                    p = tokenizer(piece, add_special_tokens=False, verbose=False)["input_ids"]
                    ids += p
                    learn += [lab] * len(p)
            pos = b
    labels = [t if lab else IGNORE for t, lab in zip(ids, learn)]
    return {"input_ids": np.asarray(ids[:max_len], dtype=np.int64),
            "labels": np.asarray(labels[:max_len], dtype=np.int64)}


def turn_end_ids(tokenizer) -> list[int]:
    """The token(s) that end an assistant turn under this template (e.g. <|im_end|>, <|eot_id|>,
    <end_of_turn>, </s>): generation must stop there, whatever `eos_token` says."""
    if not getattr(tokenizer, "chat_template", None):
        return []
    probe = [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]
    try:
        full, spans = assistant_spans(tokenizer, probe)
    except Exception:  # noqa: BLE001 - a template that cannot render a probe simply contributes nothing
        return []
    a, b = spans[-1]
    tail = full[a:b]
    i = tail.rfind("pong")
    hit = _first_special(tail[i + 4:], _special_strings(tokenizer)) if i >= 0 else None
    if not hit:
        return []
    tid = tokenizer.convert_tokens_to_ids(tail[i + 4 + hit[0]: i + 4 + hit[1]])
    return [tid] if isinstance(tid, int) and tid >= 0 else []


def stop_ids(tokenizer, model: Any = None) -> list[int]:
    """Every id that ends generation: the template's end of turn, the tokenizer's EOS, and the model's own
    generation config (a base's `generation_config.json` often lists several)."""
    ids = list(turn_end_ids(tokenizer))
    for t in ("<|im_end|>", "<|endoftext|>"):
        i = tokenizer.convert_tokens_to_ids(t) if t in tokenizer.get_vocab() else None
        if isinstance(i, int) and i >= 0:
            ids.append(i)
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    gen = getattr(model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None) if gen is not None else None
    ids += [extra] if isinstance(extra, int) else list(extra or [])
    return list(dict.fromkeys(i for i in ids if i is not None))
