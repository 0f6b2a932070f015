"""推理部署: the OpenAI-compatible gateway with guardrails, knowledge base, keys and audit."""
