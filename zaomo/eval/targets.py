"""What is evaluated: a model in this process (batched) or any OpenAI-compatible endpoint."""

from __future__ import annotations

from pathlib import Path


class LocalTarget:
    """A Hugging Face model directory loaded here; batched log-likelihoods and generation."""

    kind = "local"

    def __init__(self, path: str | Path, batch_size: int = 16, device: str = "auto", dtype: str = "auto"):
        from ..model.load import load_model

        self.path = str(path)
        self.model, self.tok = load_model(path, device=device, dtype=dtype)
        self.batch_size = batch_size
        self.chat_template = getattr(self.tok, "chat_template", None)

    def generate(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
        from ..model.generate import generate_chat

        out: list[str] = []
        for s in range(0, len(conversations), self.batch_size):
            out += generate_chat(self.model, self.tok, conversations[s:s + self.batch_size], max_new_tokens)
        return out

    def loglikelihoods(self, contexts: list[str], continuations: list[str]) -> list[float]:
        """log P(continuation | context) for each pair. Pairs are sorted by length so a batch carries little
        padding, and the softmax is taken only at the continuation positions (not over every position)."""
        import torch

        limit = getattr(self.model.config, "max_position_embeddings", 2048)
        enc = self.tok(list(contexts) + list(continuations), add_special_tokens=False)["input_ids"]
        ctx_ids, cont_ids = enc[:len(contexts)], enc[len(contexts):]
        seqs = [(a + b)[-limit:] for a, b in zip(ctx_ids, cont_ids)]
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        res = [0.0] * len(seqs)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            n = len(seqs[idx[0]])
            ids = torch.full((len(idx), n), self.tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            rows, cols, targets, owner = [], [], [], []
            for r, i in enumerate(idx):
                x = seqs[i]
                ids[r, :len(x)] = torch.tensor(x)
                mask[r, :len(x)] = 1
                k = min(len(cont_ids[i]), len(x) - 1)
                rows += [r] * k
                cols += range(len(x) - k - 1, len(x) - 1)
                targets += x[len(x) - k:]
                owner += [i] * k
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                    use_cache=False).logits
                picked = torch.log_softmax(logits[rows, cols].float(), -1)
                lp = picked[torch.arange(len(targets)), torch.tensor(targets, device=picked.device)].cpu().tolist()
            for i, v in zip(owner, lp):
                res[i] += v
        return res

    def perplexity(self, texts: list[str], seq_len: int | None = None, stride: int | None = None) -> dict[str, float]:
        """Perplexity, bits per character and per byte with a strided sliding window (see eval.perplexity)."""
        from .perplexity import perplexity

        L = seq_len or getattr(self.model.config, "max_position_embeddings", 512)
        return perplexity(self.model, self.tok, texts, L, stride)


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


class PromptedTarget:
    """A target whose generations run under a versioned prompt (`model.prompting.with_prompt`, the rule the
    server uses); everything else — log-likelihoods, perplexity, path — is the wrapped target's."""

    def __init__(self, inner, system: str | None, template: str | None = None):
        self.inner, self.system, self.template = inner, system, template

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def generate(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
        from ..model.prompting import with_prompt

        return self.inner.generate([with_prompt(c, self.system, self.template) for c in conversations],
                                   max_new_tokens)
