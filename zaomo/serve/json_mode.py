"""JSON mode on the built-in engine: `response_format` json_object / json_schema as constrained decoding. At
every step the batcher masks the tokens the grammar forbids (xgrammar, compiled once per schema and tokenizer),
so even a weak model writes valid JSON. Near the end of the token budget decoding switches to closing: among the
allowed tokens it prefers the ones that end the current string, then the open objects and arrays, so the
answer is whole rather than cut off. xgrammar is the `json` extra."""

from __future__ import annotations

import json
from typing import Any

from .errors import APIError

CLOSING_RESERVE = 16  # tokens kept at the end of the budget to close the JSON


def schema_of(body: dict) -> dict | None:
    """The JSON schema a request's response_format asks for: None for text, {"type": "object"} for json_object."""
    rf = body.get("response_format")
    if rf is None:
        return None
    kind = rf.get("type") if isinstance(rf, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise APIError(400, "'response_format.json_schema.schema' must be a JSON schema object",
                           param="response_format")
        return schema
    raise APIError(400, "'response_format.type' must be text, json_object or json_schema", param="response_format")


def _xgrammar():
    try:
        import xgrammar
    except ImportError:
        raise APIError(400, "'response_format' needs xgrammar on the built-in engine: pip install 'zaomo[json]'",
                       param="response_format", code="unsupported_parameter") from None
    return xgrammar


class Grammars:
    """Compiled grammars for one tokenizer (what a loaded model version keeps)."""

    def __init__(self, tok, vocab_size: int, stop_ids: set[int]):
        xgr = _xgrammar()
        self.info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab_size, stop_token_ids=sorted(stop_ids))
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=1)
        self.rank = _closing_ranks(tok, vocab_size, stop_ids)
        self.quote = self.rank.new_tensor([tok.decode([t]) == '"' if t < len(tok) else False
                                           for t in range(vocab_size)]).bool()

    def compile(self, schema: dict) -> Any:
        try:
            return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
        except (RuntimeError, ValueError) as e:
            raise APIError(400, f"'response_format': the JSON schema cannot be compiled: {e}",
                           param="response_format") from None


def _closing_ranks(tok, vocab_size: int, stop_ids: set[int]):
    """Per token, how well it closes JSON outside a string: stop > } ] > a digit > , > : > anything else."""
    import torch

    order = {"}": 6, "]": 6, "0": 4, ",": 3, ":": 2}
    rank = torch.zeros(vocab_size)
    for t in range(min(vocab_size, len(tok))):
        rank[t] = order.get(tok.decode([t]), 0)
    for t in stop_ids:
        if t < vocab_size:
            rank[t] = 9
    return rank


class JsonConstraint:
    """One request's grammar state: `mask` the logits, `accept` the chosen token, `finished` once complete."""

    def __init__(self, grammars: Grammars, compiled: Any, tok):  # built per request, in the batcher's thread
        xgr = _xgrammar()
        self.xgr, self.grammars, self.tok = xgr, grammars, tok
        self.matcher = xgr.GrammarMatcher(compiled)
        self.bitmask = xgr.allocate_token_bitmask(1, grammars.info.vocab_size)
        self.text = ""

    def mask(self, logits, left: int):
        import torch

        self.matcher.fill_next_token_bitmask(self.bitmask)
        logits = logits.float()
        self.xgr.apply_token_bitmask_inplace(logits, self.bitmask.to(logits.device))
        if left > CLOSING_RESERVE:
            return logits
        allowed = torch.isfinite(logits)
        rank = self.grammars.rank[: logits.shape[-1]].to(logits.device)
        if _in_string(self.text):  # a quote ends the string; a brace inside it would only lengthen it
            quote = self.grammars.quote[: logits.shape[-1]].to(logits.device)
            rank = torch.where(quote, torch.full_like(rank, 8.0), torch.zeros_like(rank))
        best = torch.where(allowed, rank, torch.full_like(rank, -1.0))
        top = best.max()
        keep = allowed & (best == top)
        return torch.where(keep, logits, torch.full_like(logits, float("-inf")))

    def accept(self, token: int) -> None:
        self.matcher.accept_token(token)
        self.text += self.tok.decode([token])

    def finished(self) -> bool:
        return self.matcher.is_terminated()


def _in_string(text: str) -> bool:
    """Whether JSON text ends inside a string literal."""
    inside, escaped = False, False
    for c in text:
        if escaped:
            escaped = False
        elif c == "\\" and inside:
            escaped = True
        elif c == '"':
            inside = not inside
    return inside
