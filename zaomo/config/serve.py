"""`serve:` — the OpenAI-compatible gateway: engine, access, limits, audit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class ServeConfig(Section):
    host: str = Field("127.0.0.1", description="listen address; anything but loopback requires API keys")
    port: int = Field(8000, ge=0, le=65535, description="listen port")
    engine: Literal["builtin", "onnx", "vllm", "remote"] = Field(
        "builtin", description="what generates the tokens: builtin (transformers in this process), onnx (a "
        "`zaomo export --format onnx` dir on ONNX Runtime, CPU), vllm, remote (any OpenAI-compatible endpoint)")
    onnx_int8: bool = Field(False, description="engine onnx: run model.int8.onnx (`zaomo export --int8`) instead "
                            "of the fp32 model.onnx")
    model: str | None = Field(None, description="model dir or registered name (defaults to the promoted version)")
    models: list[str] = Field(default_factory=list, description="more models served beside `model`, chosen by a "
                              "request's `model`: registered names, model dirs or LoRA adapter dirs, each optionally "
                              "`name=ref`; adapters share their base's weights (loaded once)")
    remote_url: str | None = Field(None, description="base URL of a remote OpenAI-compatible endpoint or vLLM")
    remote_api_key_env: str = Field("OPENAI_API_KEY", description="env var holding the remote endpoint's key")
    max_new_tokens: int = Field(256, ge=1, description="default and ceiling for max_tokens")
    max_batch_size: int = Field(8, ge=1, description="built-in engine: most requests decoded together in one step")
    batch_wait_ms: float = Field(5.0, ge=0, description="built-in engine: how long an idle engine waits for more "
                                 "requests to start a batch with")
    require_keys: bool = Field(False, description="require API keys even on loopback")
    cors_origins: list[str] = Field(default_factory=list, description="allowed CORS origins")
    rate_limit_per_minute: int = Field(600, ge=0, description="requests per key (or client address) per minute; 0 = unlimited")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body")
    audit: bool = Field(True, description="record every request and response in the workspace database")
    audit_mask_pii: bool = Field(True, description="mask PII in audit rows")
    audit_retention_days: float = Field(0, ge=0, description="delete audit rows older than this many days, at "
                                        "startup and every hour while serving (`zaomo audit purge` by hand); 0 = keep all")
    embedding_model: str | None = Field(None, description="local Hugging Face encoder dir served at /v1/embeddings "
                                        "(mean-pooled, normalised); unset = /v1/embeddings answers 404")
    kb: str | None = Field(None, description="knowledge base used when a request asks for one without naming it")
    guard: bool = Field(True, description="input and output guardrails")
    prompt: str = Field("auto", description="the system prompt put first in a chat: auto (the promoted version of "
                        "the prompts bound to the requested model, else of those bound to no model; the most "
                        "recently promoted wins), none, NAME (that prompt's promoted version, for every model) or "
                        "NAME:VERSION (pinned). A promote or rollback applies from the next request; see "
                        "docs/prompts.md")
    prompt_client_system: Literal["replace", "prepend"] = Field(
        "replace", description="when a request brings its own system message: replace (the client's message is "
        "used alone, no prompt version applies) or prepend (the prompt's text first, then the client's message)")
