"""The safety classifier zaomo trains itself: fast enough to score every request on a CPU (about a
millisecond), trained in seconds on the built-in policy set's train split plus the user's labelled prompts.

Two logistic regressions (scikit-learn) over one feature set (`features.make_vectorizer`): one says whether a
prompt should be refused (P(unsafe)), the other which category it falls in, learnt from the harmful prompts
only. Deciding on P(unsafe) rather than on one category's share keeps a prompt that sits between two
categories (a scam that is also a privacy breach) from slipping under every category's threshold. A category
may have its own threshold on P(unsafe) (`safety.classifier.thresholds`).

Saved with joblib (a pickle): load only classifier files you trained.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config.safety import ClassifierConfig
from ..utils.hashing import file_hash, text_hash
from ..utils.io import atomic_open
from .features import make_vectorizer, prepare
from .policy_set import SAFE, label_of, load_policy_set, read_labelled

FORMAT = 1
log = logging.getLogger("zaomo.safety")


@dataclass
class ClassifierVerdict:
    """The classifier's view of one text."""

    flagged: bool
    category: str  # the most likely harmful category (reported whether flagged or not)
    unsafe: float  # P(unsafe)
    threshold: float  # the threshold that applied (the category's own, else the default)
    scores: dict[str, float] = field(default_factory=dict)  # category → P(unsafe) · P(category | unsafe)
    ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = "unsafe" if self.flagged else "safe"
        d["unsafe"], d["ms"] = round(self.unsafe, 4), round(self.ms, 3)
        d["scores"] = {k: round(v, 4) for k, v in sorted(self.scores.items(), key=lambda kv: -kv[1])}
        return d


class SafetyClassifier:
    """Features + the unsafe/safe model + the category model, and what they were trained on."""

    def __init__(self, features: Any, unsafe_model: Any, category_model: Any, categories: list[str],
                 meta: dict[str, Any]):
        self.features, self.unsafe_model, self.category_model = features, unsafe_model, category_model
        self.categories, self.meta = categories, meta

    @classmethod
    def train(cls, items: list[dict], c: float = 10.0, meta: dict[str, Any] | None = None) -> SafetyClassifier:
        """Fit on labelled items ({prompt, expected, category}); needs prompts of both kinds."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        labels = [label_of(it) for it in items]
        harmful = [i for i, lab in enumerate(labels) if lab != SAFE]
        if not harmful or len(harmful) == len(items):
            raise ValueError(f"the classifier needs prompts to refuse and prompts to answer; got {len(harmful)} "
                             f"to refuse of {len(items)}")
        features = make_vectorizer()
        x = features.fit_transform([prepare(it["prompt"]) for it in items])
        y = np.array([lab != SAFE for lab in labels])
        unsafe = LogisticRegression(C=c, solver="liblinear", dual=True).fit(x, y)  # dual: features ≫ prompts
        cats = sorted({labels[i] for i in harmful})
        category = None
        if len(cats) > 1:
            category = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", dual=True))
            category.fit(x[harmful], [labels[i] for i in harmful])
            cats = [str(k) for k in category.classes_]
        info = {"labels": dict(Counter(labels)), "items": len(items), "c": c, "trained_at": time.time(),
                "versions": _versions(), **(meta or {})}
        return cls(features, unsafe, category, cats, info)

    def unsafe_probability(self, texts: list[str]) -> np.ndarray:
        x = self.features.transform([prepare(t) for t in texts])
        return self.unsafe_model.predict_proba(x)[:, list(self.unsafe_model.classes_).index(True)]

    def predict(self, texts: list[str], thresholds: dict[str, float] | None = None,
                default: float = 0.6) -> list[ClassifierVerdict]:
        """Verdicts for many texts at once (one feature pass)."""
        t0 = time.perf_counter()
        x = self.features.transform([prepare(t) for t in texts])
        p_unsafe = self.unsafe_model.predict_proba(x)[:, list(self.unsafe_model.classes_).index(True)]
        p_cat = self.category_model.predict_proba(x) if self.category_model is not None \
            else np.ones((len(texts), 1))
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(texts))
        out = []
        for pu, pc in zip(p_unsafe.tolist(), p_cat):
            cat = self.categories[int(np.argmax(pc))]
            th = (thresholds or {}).get(cat, default)
            out.append(ClassifierVerdict(pu >= th, cat, pu, th,
                                         {c: pu * float(p) for c, p in zip(self.categories, pc)}, ms))
        return out

    def verdict(self, text: str, thresholds: dict[str, float] | None = None,
                default: float = 0.6) -> ClassifierVerdict:
        return self.predict([text], thresholds, default)[0]

    def save(self, path: str | Path) -> Path:
        import joblib

        path = Path(path)
        with atomic_open(path, "wb") as f:
            joblib.dump({"format": FORMAT, "features": self.features, "unsafe": self.unsafe_model,
                         "category": self.category_model, "categories": self.categories, "meta": self.meta}, f)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SafetyClassifier:
        import joblib

        obj = joblib.load(path)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"{path} is not a zaomo safety classifier (format {FORMAT}); retrain it with "
                             "`zaomo safety train`")
        return cls(obj["features"], obj["unsafe"], obj["category"], obj["categories"], obj["meta"])


def _versions() -> dict[str, str]:
    import sklearn

    from .. import __version__

    return {"zaomo": __version__, "scikit-learn": sklearn.__version__}


@dataclass
class TrainingData:
    """What a classifier is trained and measured on, and where it came from."""

    train: list[dict]
    test: list[dict]
    sources: dict[str, Any]


def _path(f: str, root: str | Path) -> Path:
    p = Path(f) if Path(f).is_absolute() else Path(root) / f
    if not p.exists():
        raise FileNotFoundError(f"safety.classifier.train_files: {p} does not exist")
    return p


def current_sources(cfg: ClassifierConfig, root: str | Path = ".") -> dict[str, str]:
    """What a classifier trained now would learn from: the built-in set's and each training file's hash."""
    out = {}
    if cfg.builtin_set:
        from importlib import resources

        data = resources.files("zaomo.safety").joinpath("data")
        out["builtin"] = text_hash("".join(data.joinpath(f"{n}.jsonl").read_text(encoding="utf-8")
                                           for n in ("adversarial", "benign")))
    for f in cfg.train_files:
        out[str(f)] = file_hash(_path(f, root))
    return out


def training_data(cfg: ClassifierConfig, root: str | Path = ".") -> TrainingData:
    """The built-in set's train split (when `builtin_set`) plus the user's files; items marked split=test (the
    built-in test split, and the user's own) are held out for measuring."""
    train, test = [], []
    sources = current_sources(cfg, root)
    if cfg.builtin_set:
        train += load_policy_set("train")
        test += load_policy_set("test")
    for f in cfg.train_files:
        rows = read_labelled(_path(f, root))
        train += [r for r in rows if r["split"] == "train"]
        test += [r for r in rows if r["split"] == "test"]
    if not train:
        raise ValueError("no training prompts: set safety.classifier.builtin_set=true or give "
                         "safety.classifier.train_files")
    return TrainingData(train, test, sources)


def load_or_train(cfg: ClassifierConfig, root: str | Path = ".") -> SafetyClassifier:
    """The saved classifier at `cfg.path`, else one trained now on the same data (not saved: the workspace is
    only written by `zaomo safety train`). A saved one trained on other data than configured (files changed,
    added, or a newer built-in set) is used, with a warning."""
    path = Path(cfg.path) if Path(cfg.path).is_absolute() else Path(root) / cfg.path
    if path.exists():
        clf = SafetyClassifier.load(path)
        if clf.meta.get("sources") != current_sources(cfg, root):
            log.warning("safety classifier %s was trained on other data than safety.classifier names now "
                        "(%s); retrain it with `zaomo safety train`", path, sorted(clf.meta.get("sources", {})))
        return clf
    t0 = time.perf_counter()
    data = training_data(cfg, root)
    clf = SafetyClassifier.train(data.train, meta={"sources": data.sources})
    log.info("no safety classifier at %s: trained one on %d prompts in %.1f s (`zaomo safety train` saves one)",
             path, len(data.train), time.perf_counter() - t0)
    return clf
