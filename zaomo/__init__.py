"""造模 zaomo: make your own LLM, from raw documents to a served, evaluated, guarded model."""

__version__ = "0.1.0"
