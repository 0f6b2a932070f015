"""What is evaluated: a model in this process (batched) or any OpenAI-compatible endpoint."""

from __future__ import annotations

import math
from pathlib import Path


class LocalTarget:
    """A Hugging Face model directory loaded here; batched log-likelihoods and generation."""

    kind = "local"

    def __init__(self, path: str | Path, batch_size: int = 16, device: str = "auto"):
        from ..model.load import load_model

        self.path = str(path)
        self.model, self.tok = load_model(path, device=device)
        self.batch_size = batch_size
        self.chat_template = getattr(self.tok, "chat_template", None)

    def generate(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
        from ..model.generate import generate_chat

        out: list[str] = []
        for s in range(0, len(conversations), self.batch_size):
            out += generate_chat(self.model, self.tok, conversations[s:s + self.batch_size], max_new_tokens)
        return out

    def loglikelihoods(self, contexts: list[str], continuations: list[str]) -> list[float]:
        """log P(continuation | context) for each pair, batched with right padding."""
        import torch

        res: list[float] = []
        limit = getattr(self.model.config, "max_position_embeddings", 2048)
        for s in range(0, len(contexts), self.batch_size):
            ctx_ids = [self.tok(c, add_special_tokens=False)["input_ids"] for c in contexts[s:s + self.batch_size]]
            cont_ids = [self.tok(c, add_special_tokens=False)["input_ids"]
                        for c in continuations[s:s + self.batch_size]]
            seqs = [(a + b)[-limit:] for a, b in zip(ctx_ids, cont_ids)]
            n = max(len(x) for x in seqs)
            ids = torch.full((len(seqs), n), self.tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, x in enumerate(seqs):
                ids[i, :len(x)] = torch.tensor(x)
                mask[i, :len(x)] = 1
            with torch.no_grad():
                logp = torch.log_softmax(self.model(input_ids=ids.to(self.model.device),
                                                    attention_mask=mask.to(self.model.device)).logits.float(), -1)
            for i, (x, b) in enumerate(zip(seqs, cont_ids)):
                L = len(x)
                k = min(len(b), L - 1)
                pos = torch.arange(L - k - 1, L - 1)
                res.append(float(logp[i, pos, torch.tensor(x[L - k:])].sum()))
        return res

    def perplexity(self, texts: list[str], seq_len: int | None = None) -> dict[str, float]:
        """Token perplexity and bits per character over texts, in non-overlapping windows."""
        import torch

        L = seq_len or getattr(self.model.config, "max_position_embeddings", 512)
        nll, ntok, nchar = 0.0, 0, 0
        for t in texts:
            ids = self.tok(t, add_special_tokens=False)["input_ids"]
            nchar += len(t)
            for s in range(0, len(ids), L):
                chunk = ids[s:s + L]
                if len(chunk) < 2:
                    continue
                x = torch.tensor([chunk], device=self.model.device)
                with torch.no_grad():
                    logp = torch.log_softmax(self.model(input_ids=x).logits.float(), -1)
                nll -= float(logp[0, :-1].gather(1, x[0, 1:, None]).sum())
                ntok += len(chunk) - 1
        return {"ppl": math.exp(nll / max(1, ntok)), "bits_per_char": nll / math.log(2) / max(1, nchar),
                "tokens": ntok}


class EndpointTarget:
    """An OpenAI-compatible endpoint (zaomo serve, vLLM, any provider): generation only."""

    kind = "endpoint"

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, timeout: float = 120):
        import httpx

        self.path, self.api_key = base_url.rstrip("/"), api_key
        self.client = httpx.Client(base_url=self.path, timeout=timeout,
                                   headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
        if model is None:
            r = self.client.get("/models")
            r.raise_for_status()
            model = r.json()["data"][0]["id"]
        self.model = model
        self.chat_template = None

    def generate(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
        out = []
        for c in conversations:
            r = self.client.post("/chat/completions", json={"model": self.model, "messages": c,
                                                            "max_tokens": max_new_tokens, "temperature": 0})
            r.raise_for_status()
            out.append(r.json()["choices"][0]["message"]["content"] or "")
        return out

    def loglikelihoods(self, contexts, continuations):
        raise NotImplementedError("log-likelihood tasks (perplexity, multiple choice) need a local model; "
                                  "an endpoint supports qa, generation, judge, safety and speed")
