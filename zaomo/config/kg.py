"""`kg:` — knowledge-graph import: where the graph and what it generates live, and how predicates read."""

from __future__ import annotations

from pydantic import Field

from .base import Section


class PredicateText(Section):
    """How one predicate reads in each language. `{s}` the subject's name, `{o}` the object's, `{p}` the label."""

    zh: str | None = Field(None, description="Chinese label (e.g. 负责人); default: the predicate's name")
    en: str | None = Field(None, description="English label (e.g. manager); default: the name, _ as spaces")
    statement_zh: str | None = Field(None, description="Chinese sentence; default '{s}的{p}是{o}。'")
    statement_en: str | None = Field(None, description="English sentence; default 'The {p} of {s} is {o}.'")
    questions_zh: list[str] = Field(default_factory=list, description="Chinese question phrasings for training; "
                                    "default: generic ones")
    questions_en: list[str] = Field(default_factory=list, description="English question phrasings for training")
    heldout_zh: list[str] = Field(default_factory=list, description="Chinese phrasings kept for the held-out "
                                  "QA file (never in the training pairs)")
    heldout_en: list[str] = Field(default_factory=list, description="English phrasings kept for the held-out file")


class KGConfig(Section):
    dir: str = Field("kg", description="where the graph (graph.jsonl), entity documents (docs/) and the "
                     "quarantine of rejected rows are kept")
    name_predicates: list[str] = Field(
        default_factory=lambda: ["name", "label", "prefLabel", "名称", "名字"],
        description="predicates that name their subject (rdfs:label and skos:prefLabel shorten to label and "
        "prefLabel); a name tagged zh/en is used in that language")
    multi_valued: list[str] = Field(
        default_factory=list, description="predicates that may hold several objects per subject (a new object "
        "is added, not a change); a predicate seen with several objects of one subject is multi-valued anyway")
    predicates: dict[str, PredicateText] = Field(default_factory=dict,
                                                 description="labels and phrasings per predicate")
    kb: bool = Field(True, description="index the entity documents into the knowledge base (kb.name)")
    sft_file: str = Field("data/sft/kg.jsonl", description="SFT question–answer pairs (chat contract)")
    qa_file: str = Field("data/eval/kg_qa.jsonl", description="held-out QA items (QA contract, doc_ids = entity "
                         "documents), phrased unlike any training pair")
    phrasings: int = Field(3, ge=1, description="training phrasings per fact and language")
    multi_hop: int = Field(200, ge=0, description="most two-edge questions (each in zh and en)")
    not_in_graph_share: float = Field(0.15, ge=0, le=1, description="refusal questions (an entity or predicate "
                                      "the graph lacks) as a share of the fact questions")
    seed: int = Field(0, description="seed for choosing phrasings and the not-in-graph questions")
