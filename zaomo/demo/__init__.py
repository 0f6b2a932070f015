"""The embedded default: a generated bilingual demo corpus (corpus.py) and the quickstart loop (loop.py)."""

from .corpus import DemoManifest, Fact, facts, write_demo

__all__ = ["DemoManifest", "Fact", "facts", "write_demo"]
