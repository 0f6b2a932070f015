"""One safety policy for both ends: cleaning data (`where="data"`) and guarding a server (input/output).

`Guard.check` runs the layers in order of cost and says what to do: allow, log (record only), mask (text
rewritten), or drop/block/refuse. The sensitive-word list (per-category actions), PII masking and, on input,
the prompt-injection heuristics are the fast first layer and the only ones used on data and on output. On
input, the safety classifier (`safety.classifier`, ~1 ms) and a guard model behind an endpoint
(`safety.guard_endpoint`, one HTTP call) follow, each only while no earlier layer has refused — their
verdicts and scores go into `GuardResult.layers`, which the server writes into the audit record.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.safety import SafetyConfig
from .injection import find_injection
from .matcher import Finding, SensitiveMatcher
from .pii import MASKS, find_pii, mask_spans

__all__ = ["Guard", "GuardResult", "Finding", "SensitiveMatcher", "SEVERITY", "blocks", "is_chinese"]

SEVERITY = {"allow": 0, "log": 1, "mask": 2, "drop": 3, "block": 3, "refuse": 3}


def blocks(action: str) -> bool:
    """Whether an action stops the text (drop at cleaning, block/refuse at serving)."""
    return SEVERITY[action] >= SEVERITY["block"]


def is_chinese(text: str) -> bool:
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    return han >= max(1, len(text.strip()) // 10)


@dataclass
class GuardResult:
    allowed: bool
    action: str  # allow | log | mask | drop | block | refuse
    text: str  # the text to use (masked where needed)
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)  # words | classifier | endpoint → verdict

    def refusal(self, cfg: SafetyConfig, prompt: str = "") -> str:
        return cfg.refusal_zh if is_chinese(prompt or self.text) else cfg.refusal_en


@dataclass
class _Draft:
    """A text on its way through the layers: the worst action so far and what each layer said."""

    text: str
    action: str = "allow"
    reasons: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def escalate(self, action: str) -> None:
        if SEVERITY[action] > SEVERITY[self.action]:
            self.action = action


class Guard:
    """Build once (the automaton; the classifier at the first input check), then check many texts cheaply."""

    def __init__(self, cfg: SafetyConfig | None = None, root: str | Path | None = None, classifier: Any = None):
        self.cfg = cfg or SafetyConfig()
        self.root = Path(root) if root else Path(".")
        paths = [p if Path(p).is_absolute() else self.root / p for p in self.cfg.wordlists]
        allow = [p if Path(p).is_absolute() else self.root / p for p in self.cfg.allowlists]
        self.matcher = SensitiveMatcher.from_files(paths, builtin=self.cfg.builtin_wordlist, allow_paths=allow,
                                                   builtin_allow=self.cfg.builtin_allowlist, allow=self.cfg.allow)
        self._classifier: Any = classifier  # given (just trained), else loaded at the first input check
        self._lock = threading.Lock()
        self.endpoint = None
        if self.cfg.guard_endpoint.url:
            from .endpoint import GuardEndpoint

            self.endpoint = GuardEndpoint(self.cfg.guard_endpoint)

    @property
    def classifier(self) -> Any:
        """The safety classifier (loaded, or trained in memory, on first use); None when disabled."""
        if not self.cfg.classifier.enabled:
            return None
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    from .classifier import load_or_train

                    clf = load_or_train(self.cfg.classifier, self.root)
                    clf.verdict("warm up")  # jieba loads its dictionary on first use (~1 s), not on a request
                    self._classifier = clf
        return self._classifier

    def word_action(self, category: str, where: str) -> str:
        """The action for a finding of `category` at `where` (data cleaning drops what serving refuses)."""
        action = self.cfg.actions.get(category, "refuse")
        if where == "data" and action in ("block", "refuse"):
            return "drop"
        if where != "data" and action == "drop":
            return "refuse"
        return action

    def verdict_action(self, category: str, where: str) -> str:
        """The action for a model's verdict of `category`: as for a word, but a verdict has no span to mask,
        so `mask` is recorded (`log`)."""
        a = self.word_action(category, where)
        return "log" if a == "mask" else a

    def check(self, text: str, where: str = "input", *, endpoint: bool = True, classifier: bool = True,
              every_layer: bool = False) -> GuardResult:
        """Check one text. `endpoint=False` leaves the guard model out (the server asks it once per
        conversation, see `judge`), `classifier=False` the classifier (measuring the rules alone);
        `every_layer` runs each layer even after one has refused (to inspect)."""
        d = self._rules(text, where)
        self._classify([d], where, classifier, every_layer)
        if where == "input" and endpoint and self.endpoint is not None and (every_layer or not blocks(d.action)):
            j = self.judge([{"role": "user", "content": text}])
            d.layers.update(j.layers)
            d.escalate(j.action)
            d.reasons += [j.reason] if j.reason else []
        return self._finish(d, where)

    def check_many(self, texts: list[str], where: str = "input", *, classifier: bool = True) -> list[GuardResult]:
        """Check several texts (a conversation's messages): the rules on each, then one classifier pass over
        all those still allowed — one feature extraction, not one per message. No guard model (`judge`)."""
        drafts = [self._rules(t, where) for t in texts]
        self._classify(drafts, where, classifier, every_layer=False)
        return [self._finish(d, where) for d in drafts]

    def _rules(self, text: str, where: str) -> _Draft:
        """The first layer: listed words (per-category actions) and, on input, the injection heuristics."""
        d = _Draft(text)
        words = self.matcher.find(text)
        for f in words:
            d.escalate(self.word_action(f.category, where))
            d.reasons.append(f"{f.category}: {f.match}")
        d.findings += words
        inj = find_injection(text) if where == "input" and self.cfg.injection_check else []
        if inj:
            d.findings += inj
            d.escalate(self.verdict_action("injection", where))
            d.reasons += [f"injection: {f.category}" for f in inj]
        if where != "data":
            d.layers["words"] = {"verdict": "unsafe" if words or inj else "safe",
                                 "categories": sorted({f.category for f in words} | ({"injection"} if inj else set())),
                                 "matches": [f.match for f in words + inj][:10]}
        return d

    def _classify(self, drafts: list[_Draft], where: str, classifier: bool, every_layer: bool) -> None:
        """The second layer, on input: the classifier's verdicts for every draft not already refused."""
        if where != "input" or not classifier:
            return
        todo = [d for d in drafts if every_layer or not blocks(d.action)]
        if not todo or (clf := self.classifier) is None:
            return
        c = self.cfg.classifier
        for d, v in zip(todo, clf.predict([d.text for d in todo], c.thresholds, c.threshold)):
            d.layers["classifier"] = v.as_dict()
            if v.flagged:
                d.escalate(self.verdict_action(v.category, where))
                d.reasons.append(f"classifier: {v.category} (P(unsafe) {v.unsafe:.2f} ≥ {v.threshold:g})")

    def _finish(self, d: _Draft, where: str) -> GuardResult:
        """PII and masked words: the text to use when allowed."""
        pii = find_pii(d.text, self.cfg.pii_types)
        d.findings += pii
        if blocks(d.action):
            return GuardResult(False, d.action, d.text, d.findings, "; ".join(d.reasons), d.layers)
        masked = d.text
        to_mask = [f for f in d.findings
                   if f.kind == "pii" or (f.kind == "word" and self.word_action(f.category, where) == "mask")]
        if to_mask:
            masked = mask_spans(d.text, to_mask, MASKS)
            d.escalate("mask")
            d.reasons += [f"pii: {f.category}" for f in pii]
        return GuardResult(True, d.action, masked, d.findings, "; ".join(d.reasons), d.layers)

    def judge(self, conversation: list[dict]) -> GuardResult:
        """The guard model's verdict on a conversation (its last user message in context), as a result whose
        action is the worst of its categories' actions; allowed with an empty layer when no endpoint is set."""
        if self.endpoint is None:
            return GuardResult(True, "allow", "")
        v = self.endpoint.check(conversation)
        action = "allow"
        for c in v.categories if v.flagged else []:
            a = self.verdict_action(c, "input")
            action = a if SEVERITY[a] > SEVERITY[action] else action
        reason = ""
        if v.flagged:
            reason = f"guard model: {', '.join(v.categories)}" + (f" ({v.error}; fail closed)" if v.fail else "")
        elif v.fail:
            reason = f"guard model: {v.error}; fail open"
        return GuardResult(not blocks(action), action, "", [], reason, {"endpoint": v.as_dict()})
