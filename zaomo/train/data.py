"""Training data: pre-tokenised once into a memory-mapped token file (pretraining, packed), or into
masked examples (SFT: loss on every assistant turn and nowhere else; DPO: chosen/rejected pairs), rendered with
the tokenizer's own chat template (`zaomo.model.chat`).

The token file is written in a streaming pass (bounded memory) and cached by the hash of its inputs
and tokenizer, so a corpus larger than RAM works and a second run does not tokenise again.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import numpy as np

from ..data.formats import to_messages
from ..model.chat import IGNORE, encode_chat
from ..utils.hashing import file_hash
from ..utils.io import InputError, iter_jsonl

__all__ = ["IGNORE", "PackedDataset", "collate", "encode_chat", "load_dpo", "load_kto", "load_prompts", "load_sft",
           "pretokenize"]


def pretokenize(files: list[Path], tokenizer, cache_dir: Path, batch: int = 1024) -> np.memmap:
    """All documents' tokens, each followed by <|endoftext|>, in one uint32 memmap."""
    key = hashlib.blake2b(digest_size=8)
    for f in files:
        key.update(file_hash(f).encode())
    key.update(str(len(tokenizer)).encode())
    key.update(tokenizer.backend_tokenizer.to_str().encode()[:100000] if hasattr(tokenizer, "backend_tokenizer")
               else b"")
    out = cache_dir / f"tokens-{key.hexdigest()}.bin"
    if not out.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        sep = tokenizer.convert_tokens_to_ids("<|endoftext|>")
        if sep is None or sep == tokenizer.unk_token_id:
            sep = tokenizer.eos_token_id
        tmp = out.with_suffix(f".{os.getpid()}.tmp")  # per process: DDP ranks may tokenise at the same time
        with open(tmp, "wb") as fh:
            buf: list[str] = []

            backend = getattr(tokenizer, "backend_tokenizer", None)
            fast = getattr(backend, "encode_batch_fast", None)  # Rust, parallel, no offsets: the quick path

            def flush() -> None:
                if not buf:
                    return
                seqs = ([e.ids for e in fast(buf, add_special_tokens=False)] if fast is not None
                        else tokenizer(buf, add_special_tokens=False, verbose=False)["input_ids"])
                n = sum(len(s) for s in seqs) + len(seqs)
                np.fromiter(itertools.chain.from_iterable(s + [sep] for s in seqs), dtype=np.uint32,
                            count=n).tofile(fh)
                buf.clear()

            for f in files:
                for rec in iter_jsonl(f):
                    text = rec.get("text")
                    if not isinstance(text, str):
                        raise InputError(f, None, f"record {rec.get('id')!r} has no 'text' field",
                                         "pretraining data is {\"text\": ...} per line")
                    buf.append(text)
                    if len(buf) >= batch:
                        flush()
            flush()
        os.replace(tmp, out)  # atomic; concurrent writers produce the same bytes
    if out.stat().st_size == 0:  # no documents (e.g. an empty validation split)
        return np.zeros(0, dtype=np.uint32)
    return np.memmap(out, dtype=np.uint32, mode="r")


class PackedDataset:
    """Contiguous blocks of seq_len tokens from the memmap (documents packed, separated by EOS)."""

    def __init__(self, tokens: np.ndarray, seq_len: int):
        self.tokens, self.seq_len = tokens, seq_len
        self.n = max(1, (len(tokens) - 1) // seq_len)
        if len(tokens) < seq_len + 1:
            raise ValueError(f"only {len(tokens)} tokens: fewer than one block of model.seq_len={seq_len}")

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        s = i * self.seq_len
        ids = np.asarray(self.tokens[s:s + self.seq_len], dtype=np.int64)
        return {"input_ids": ids, "labels": ids.copy()}


def load_sft(path: Path, tokenizer, seq_len: int) -> list[dict]:
    out = []
    eos = tokenizer.eos_token_id
    for n, rec in enumerate(iter_jsonl(path), 1):
        if isinstance(rec.get("text"), str) and not any(k in rec for k in ("messages", "conversations", "instruction")):
            # plain text mixed in (general replay against forgetting): language modelling, loss on every token
            ids = tokenizer(rec["text"], add_special_tokens=False, verbose=False)["input_ids"][:seq_len - 1] + [eos]
            arr = np.asarray(ids, dtype=np.int64)
            out.append({"input_ids": arr, "labels": arr.copy()})
            continue
        try:
            msgs = to_messages(rec)["messages"]
        except ValueError as e:
            raise InputError(path, n, str(e), "SFT data is {\"messages\": [...]} (or Alpaca/ShareGPT, or "
                                              "{\"text\"} to train as plain language modelling)") from None
        ex = encode_chat(tokenizer, msgs, seq_len)
        if (ex["labels"] != IGNORE).any():
            out.append(ex)
    if not out:
        raise InputError(path, None, f"no usable SFT examples (each needs an assistant turn within "
                                     f"model.seq_len={seq_len} tokens of the rendered chat template)",
                         "raise model.seq_len or shorten the conversations")
    return out


def load_dpo(path: Path, tokenizer, seq_len: int) -> list[dict]:
    out = []
    for n, rec in enumerate(iter_jsonl(path), 1):
        if not all(k in rec for k in ("prompt", "chosen", "rejected")):
            raise InputError(path, n, f"preference record needs prompt, chosen, rejected; has {sorted(rec)}")
        prompt = rec["prompt"] if isinstance(rec["prompt"], list) else [{"role": "user", "content": rec["prompt"]}]
        pair = {}
        for side in ("chosen", "rejected"):
            ex = encode_chat(tokenizer, prompt + [{"role": "assistant", "content": rec[side]}], seq_len,
                             last_only=True)
            pair[f"{side}_input_ids"], pair[f"{side}_labels"] = ex["input_ids"], ex["labels"]
        out.append(pair)
    return out


def pack_examples(examples: list[dict], seq_len: int) -> list[dict]:
    """SFT examples packed into rows of `seq_len` tokens (first-fit, longest first, so little is left over), each
    row carrying per-example position ids that restart at 0. transformers reads restarting position ids (with no
    attention mask) as packed documents and masks attention across them, so a packed example is computed
    exactly as it would be alone, without the padding a batch of short chats wastes. The first token of each
    example carries no label: it must not be predicted from the example before it."""
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i]["input_ids"]))
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = len(examples[i]["input_ids"])
        for r, left in enumerate(room):
            if n <= left:
                rows[r].append(i)
                room[r] -= n
                break
        else:
            rows.append([i])
            room.append(seq_len - n)
    out = []
    for members in rows:
        ids = np.concatenate([examples[i]["input_ids"] for i in members])
        labels = np.concatenate([np.concatenate([[IGNORE], examples[i]["labels"][1:]]) for i in members])
        pos = np.concatenate([np.arange(len(examples[i]["input_ids"])) for i in members])
        out.append({"input_ids": ids, "labels": labels.astype(np.int64), "position_ids": pos.astype(np.int64)})
    return out


def collate(examples: list[dict], pad_id: int, multiple: int = 1) -> dict:
    """Right-padded tensors (length rounded up to `multiple`, so a compiled model sees few shapes). Packed rows
    (with position ids) get no attention mask: their padding is one more short document, its labels ignored."""
    import torch

    batch: dict[str, torch.Tensor] = {}
    keys = [k for k in examples[0] if k.endswith("input_ids")]
    packed = "position_ids" in examples[0]
    for k in keys:
        lab = k.replace("input_ids", "labels")
        n = max(len(e[k]) for e in examples)
        n = -(-n // multiple) * multiple
        ids = torch.full((len(examples), n), pad_id, dtype=torch.long)
        labels = torch.full((len(examples), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), n), dtype=torch.long)
        pos = torch.zeros((len(examples), n), dtype=torch.long) if packed else None
        for i, e in enumerate(examples):
            L = len(e[k])
            ids[i, :L] = torch.from_numpy(e[k])
            labels[i, :L] = torch.from_numpy(e[lab])
            mask[i, :L] = 1
            if pos is not None:
                pos[i, :L] = torch.from_numpy(e["position_ids"])
                pos[i, L:] = torch.arange(n - L)
        batch[k], batch[lab] = ids, labels
        if pos is not None:
            batch["position_ids"] = pos
        else:
            batch[k.replace("input_ids", "attention_mask")] = mask
    for k, v in examples[0].items():  # per-example scalars (KTO's desirable/undesirable label)
        if isinstance(v, (int, float, bool)) and not isinstance(v, np.ndarray):
            batch[k] = torch.tensor([e[k] for e in examples])
    return batch


def _prompt_messages(prompt) -> list[dict]:
    return prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]


def load_kto(path: Path, tokenizer, seq_len: int) -> list[dict]:
    """Unpaired feedback for KTO: `{"prompt", "completion", "label": true|false}` (TRL's format) — a thumbs up or
    down on one answer. Preference pairs are accepted too (chosen → desirable, rejected → undesirable). Each
    example also carries its prompt with the NEXT example's answer: the mismatched pair KTO's KL estimate is
    taken on, fixed here so the reference's log-probs can be computed once."""
    rows: list[tuple[list[dict], str, bool]] = []
    for n, rec in enumerate(iter_jsonl(path), 1):
        if all(k in rec for k in ("prompt", "completion", "label")):
            if not isinstance(rec["label"], bool):
                raise InputError(path, n, f"label must be true or false; got {rec['label']!r}")
            rows.append((_prompt_messages(rec["prompt"]), str(rec["completion"]), rec["label"]))
        elif all(k in rec for k in ("prompt", "chosen", "rejected")):
            rows += [(_prompt_messages(rec["prompt"]), rec["chosen"], True),
                     (_prompt_messages(rec["prompt"]), rec["rejected"], False)]
        else:
            raise InputError(path, n, f"KTO record needs prompt, completion, label (or prompt, chosen, rejected); "
                                      f"has {sorted(rec)}")
    if not rows:
        raise InputError(path, None, "no KTO examples", "one {\"prompt\", \"completion\", \"label\"} per line")
    out = []
    for i, (prompt, answer, good) in enumerate(rows):
        ex = encode_chat(tokenizer, prompt + [{"role": "assistant", "content": answer}], seq_len, last_only=True)
        other = rows[(i + 1) % len(rows)][1]
        kl = encode_chat(tokenizer, prompt + [{"role": "assistant", "content": other}], seq_len, last_only=True)
        out.append({"completion_input_ids": ex["input_ids"], "completion_labels": ex["labels"],
                    "kl_input_ids": kl["input_ids"], "kl_labels": kl["labels"], "label": int(good)})
    return out


def load_prompts(path: Path, tokenizer, seq_len: int) -> list[dict]:
    """Prompts with checkable answers for GRPO: `{"prompt": str | messages, "answer": str | [str, ...], ...}`;
    the whole record goes to the reward functions (a user's function may read any field)."""
    from ..model.chat import prompt_ids

    out = []
    for n, rec in enumerate(iter_jsonl(path), 1):
        if "prompt" not in rec:
            raise InputError(path, n, f"GRPO record needs a prompt; has {sorted(rec)}",
                             "{\"prompt\": \"...\", \"answer\": \"...\"} per line")
        ids = prompt_ids(tokenizer, _prompt_messages(rec["prompt"]))
        if len(ids) >= seq_len:
            raise InputError(path, n, f"prompt is {len(ids)} tokens, model.seq_len={seq_len} leaves no room to answer")
        out.append({"prompt_ids": np.asarray(ids, dtype=np.int64), "record": rec})
    if not out:
        raise InputError(path, None, "no prompts", "one {\"prompt\", \"answer\"} per line")
    return out
