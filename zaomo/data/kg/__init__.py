"""Knowledge-graph import, a data source: triples from CSV/TSV, JSONL and RDF (read), kept in the workspace
with a diff against the previous import (store), rendered as one bilingual document per entity for the
knowledge base (documents) and as SFT pairs and held-out QA items (questions). `zaomo.kg_import` in
`importer.py` runs them all."""

from __future__ import annotations

from .read import BadRow, Triple, read_triples
from .store import Diff, Graph, diff_graphs

__all__ = ["BadRow", "Diff", "Graph", "Triple", "diff_graphs", "read_triples"]
