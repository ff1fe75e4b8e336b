"""Fact accuracy: the share of reference facts the output states correctly, contradictions counting
against; without a reference, groundedness: the share of the output's claims its retrieved context
supports. Every score says which facts were missing or contradicted."""

from dataclasses import dataclass

from metamon.agents.evaluation.evaluators.base import Evaluator, Score, TraceLike
from metamon.agents.evaluation.facts import (
    clean,
    content_words,
    dates,
    prepared,
    quantities,
    quoted,
    sentences,
)

PASS_THRESHOLD = 0.9
SUPPORT_THRESHOLD = 0.6  # share of a claim's content words found in the context


@dataclass(frozen=True)
class Features:
    """What a text says, in normal form; computed once per text, compared per fact."""

    text: str
    quantities: set
    dates: set
    words: set[str]

    @classmethod
    def of(cls, text: str) -> "Features":
        ready = prepared(text)
        return cls(clean(text), quantities(ready, ready=True), dates(text), content_words(ready, ready=True))


def check_fact(fact: str, output: Features) -> str:
    """'stated', 'missing' or 'contradicted'."""
    ready = prepared(fact)
    out_q, fact_q = output.quantities, quantities(ready, ready=True)
    out_d, fact_d = output.dates, dates(fact)
    phrases_ok = all(p in output.text for p in quoted(fact))
    words = content_words(ready, ready=True) - {q.unit for q in fact_q}
    out_words = output.words
    coverage = len(words & out_words) / len(words) if words else 1.0

    if fact_q or fact_d:
        # The values carry a numeric fact; its few words are often paraphrased ("fee" / "costs").
        numbers_ok = fact_q <= out_q and fact_d <= out_d
        if numbers_ok and phrases_ok and (coverage >= 0.5 or len(words) <= 2):
            return "stated"
        # the output gives another value for the same unit, or another date: it contradicts the fact
        missing_q = fact_q - out_q
        if any(q.unit and any(o.unit == q.unit and o.value != q.value for o in out_q) for q in missing_q):
            return "contradicted"
        if fact_d - out_d and out_d and coverage >= 0.5:
            return "contradicted"
        return "missing"
    needed = 1.0 if len(words) <= 2 else 0.75
    return "stated" if phrases_ok and coverage >= needed else "missing"


class FactAccuracy(Evaluator):
    name = "fact_accuracy"
    kind = "code"
    direction = "maximize"

    def evaluate(self, trace: TraceLike) -> Score | None:
        reference = trace.reference or {}
        facts = [str(f) for f in reference.get("facts") or []]
        if not facts and reference.get("expected_answer"):
            facts = sentences(reference["expected_answer"])
        if facts:
            return self._against_reference(facts, trace.output or "")
        if trace.retrieved_context:
            return self._groundedness(trace.output or "", trace.retrieved_context)
        return None

    def _against_reference(self, facts: list[str], output: str) -> Score:
        features = Features.of(output)
        verdicts = {fact: check_fact(fact, features) for fact in facts}
        stated = [f for f, v in verdicts.items() if v == "stated"]
        missing = [f for f, v in verdicts.items() if v == "missing"]
        contradicted = [f for f, v in verdicts.items() if v == "contradicted"]
        score = max(0.0, (len(stated) - len(contradicted)) / len(facts))
        parts = [f"{len(stated)}/{len(facts)} facts stated"]
        if missing:
            parts.append("missing: " + "; ".join(missing))
        if contradicted:
            parts.append("contradicted: " + "; ".join(contradicted))
        return Score(
            score,
            score >= PASS_THRESHOLD,
            ", ".join(parts),
            {"mode": "reference", "stated": stated, "missing": missing, "contradicted": contradicted},
        )

    def _groundedness(self, output: str, context: list[dict]) -> Score | None:
        claims = sentences(output)
        if not claims:
            return None
        source = " ".join(str(doc.get("content", "")) for doc in context)
        ready = prepared(source)
        source_words, source_q = content_words(ready, ready=True), quantities(ready, ready=True)
        source_d = dates(source)
        unsupported = []
        for claim in claims:
            ready = prepared(claim)
            words = content_words(ready, ready=True)
            overlap = len(words & source_words) / len(words) if words else 1.0
            if (
                overlap < SUPPORT_THRESHOLD
                or not quantities(ready, ready=True) <= source_q
                or not dates(claim) <= source_d
            ):
                unsupported.append(claim)
        score = 1 - len(unsupported) / len(claims)
        reason = f"{len(claims) - len(unsupported)}/{len(claims)} claims supported by the retrieved context"
        if unsupported:
            reason += "; unsupported: " + "; ".join(unsupported)
        return Score(
            score, score >= PASS_THRESHOLD, reason, {"mode": "groundedness", "unsupported": unsupported}
        )
