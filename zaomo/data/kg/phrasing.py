"""How facts read in Chinese and English: predicate labels, statements, question phrasings (training and
held-out kept apart), two-edge questions and the refusal for what the graph does not hold. Every template
can be replaced per predicate in `kg.predicates`; these defaults fit any predicate by its label."""

from __future__ import annotations

import re

from ...config.kg import KGConfig, PredicateText

LANGS = ("zh", "en")
STATEMENT = {"zh": "{s}的{p}是{o}。", "en": "The {p} of {s} is {o}."}
QUESTIONS = {
    "zh": ["{s}的{p}是什么？", "请告诉我{s}的{p}。", "{s}的{p}是？", "关于{s}，它的{p}是什么？"],
    "en": ["What is the {p} of {s}?", "Tell me the {p} of {s}.", "What {p} does {s} have?",
           "About {s}: what is its {p}?"],
}
HELDOUT = {
    "zh": ["你知道{s}的{p}吗？", "麻烦查一下{s}的{p}。", "我想了解{s}的{p}。"],
    "en": ["Do you know the {p} of {s}?", "Could you look up the {p} of {s} for me?", "I'd like to know {s}'s {p}."],
}
HOP_QUESTIONS = {
    "zh": ["{s}的{p1}的{p2}是什么？", "请告诉我{s}的{p1}的{p2}。"],
    "en": ["What is the {p2} of the {p1} of {s}?", "Tell me the {p2} of {s}'s {p1}."],
}
HOP_HELDOUT = {"zh": ["你知道{s}的{p1}的{p2}吗？"], "en": ["Do you know the {p2} of the {p1} of {s}?"]}
HOP_ANSWER = {"zh": "{s}的{p1}是{b}，{b}的{p2}是{o}。", "en": "The {p1} of {s} is {b}, and the {p2} of {b} is {o}."}
REFUSAL = {"zh": "知识图谱中没有{s}的{p}的记录。", "en": "The knowledge graph has no record of the {p} of {s}."}
JOIN = {"zh": "、", "en": ", "}
# Labels of common predicates (schema.org, Wikidata-style and plain names), so a graph reads well without
# configuration; kg.predicates overrides them, and other predicates read as their own name.
COMMON = {
    ("works_in", "worksin", "works_for", "worksfor", "department", "dept"): ("所在部门", "department"),
    ("manager", "managed_by", "managedby", "head", "leader", "head_of"): ("负责人", "manager"),
    ("located_in", "locatedin", "location", "office"): ("所在地", "location"),
    ("price", "cost"): ("价格", "price"), ("title", "job_title", "jobtitle", "position"): ("职位", "job title"),
    ("city",): ("城市", "city"), ("country",): ("国家", "country"), ("address",): ("地址", "address"),
    ("email",): ("邮箱", "email address"), ("telephone", "phone"): ("电话", "phone number"),
    ("type", "instance_of", "instanceof"): ("类型", "type"), ("member_of", "memberof", "part_of", "partof"):
    ("所属", "parent organisation"), ("founded", "founding_date", "foundingdate", "inception"): ("成立时间", "founding date"),
    ("owner", "owned_by", "ownedby"): ("所有者", "owner"), ("manufacturer", "maker", "brand"): ("制造商", "maker"),
    ("description", "comment"): ("简介", "description"), ("birth_date", "birthdate", "born"): ("出生日期", "date of birth"),
}
COMMON_LABELS = {name: labels for names, labels in COMMON.items() for name in names}
CJK = re.compile(r"[\u4e00-\u9fff]")


class Phrasing:
    def __init__(self, cfg: KGConfig):
        self.cfg = cfg

    def _text(self, predicate: str) -> PredicateText:
        return self.cfg.predicates.get(predicate) or PredicateText()

    def label(self, predicate: str, lang: str) -> str:
        """The configured label, else a common predicate's, else its own name (camelCase and _ as words)."""
        own = getattr(self._text(predicate), lang)
        if own:
            return own
        if common := COMMON_LABELS.get(predicate.lower()):
            return common[LANGS.index(lang)]
        words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", predicate).replace("_", " ").replace("-", " ")
        return words if CJK.search(predicate) else words.lower()

    def statement(self, s: str, predicate: str, objects: list[str], lang: str) -> str:
        tpl = getattr(self._text(predicate), f"statement_{lang}") or STATEMENT[lang]
        return tpl.format(s=s, p=self.label(predicate, lang), o=JOIN[lang].join(objects))

    def questions(self, s: str, predicate: str, lang: str) -> list[str]:
        """Training phrasings of the question for this fact."""
        own = getattr(self._text(predicate), f"questions_{lang}")
        return [t.format(s=s, p=self.label(predicate, lang)) for t in (own or QUESTIONS[lang])]

    def heldout(self, s: str, predicate: str, lang: str) -> list[str]:
        """Held-out phrasings: never one of the training phrasings."""
        train = set(self.questions(s, predicate, lang))
        own = getattr(self._text(predicate), f"heldout_{lang}")
        got = [q for q in (t.format(s=s, p=self.label(predicate, lang)) for t in own) if q not in train]
        return got or [q for q in (t.format(s=s, p=self.label(predicate, lang)) for t in HELDOUT[lang])
                       if q not in train]

    def hop(self, s: str, p1: str, b: str, p2: str, o: str, lang: str) -> tuple[list[str], list[str], str]:
        """(training questions, held-out questions, answer) for the two-edge fact s -p1-> b -p2-> o."""
        kw = {"s": s, "b": b, "o": o, "p1": self.label(p1, lang), "p2": self.label(p2, lang)}
        train = [t.format(**kw) for t in HOP_QUESTIONS[lang]]
        held = [q for q in (t.format(**kw) for t in HOP_HELDOUT[lang]) if q not in train]
        return train, held, HOP_ANSWER[lang].format(**kw)

    def refusal(self, s: str, predicate: str, lang: str) -> str:
        return REFUSAL[lang].format(s=s, p=self.label(predicate, lang))
