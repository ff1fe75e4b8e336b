"""The playbook: a typed change recommended for the segment that explains the failures.

Each change type is a pydantic model with a `type` literal and its own effort and risk. The choice
depends on the dimension of the cause and on the metric; alternatives (previous prompt version, better
model, better retrieval source) are read from the baseline's per-dimension table.
"""

from abc import abstractmethod
from typing import ClassVar, Literal

from pydantic import BaseModel

from metamon.agents.research.dimensions import LONG_INPUT_BYTES, NONE, OTHER
from metamon.agents.research.evidence import Evidence
from metamon.agents.research.metrics import Metric
from metamon.agents.research.segments import Segment, SegmentAnalysis

Level = Literal["low", "medium", "high"]


class Change(BaseModel):
    effort: ClassVar[Level]
    risk: ClassVar[Level]
    app: str | None

    @abstractmethod
    def title(self) -> str:
        """One line for the proposal's title."""

    def _for(self) -> str:
        return f" for {self.app}" if self.app else ""


class RollbackPromptVersion(Change):
    type: Literal["rollback_prompt_version"] = "rollback_prompt_version"
    effort: ClassVar[Level] = "low"
    risk: ClassVar[Level] = "low"
    from_version: str
    to_version: str

    def title(self) -> str:
        return f"Roll back the prompt from {self.from_version} to {self.to_version}{self._for()}"


class SwitchModel(Change):
    type: Literal["switch_model"] = "switch_model"
    effort: ClassVar[Level] = "medium"
    risk: ClassVar[Level] = "medium"
    from_model: str
    to_model: str

    def title(self) -> str:
        return f"Switch from {self.from_model} to {self.to_model}{self._for()}"


class ChangeRetrievalSource(Change):
    type: Literal["change_retrieval_source"] = "change_retrieval_source"
    effort: ClassVar[Level] = "medium"
    risk: ClassVar[Level] = "medium"
    from_source: str
    to_source: str

    def title(self) -> str:
        return f"Retrieve from {self.to_source} instead of {self.from_source}{self._for()}"


class AdjustRetrieval(Change):
    type: Literal["adjust_retrieval"] = "adjust_retrieval"
    effort: ClassVar[Level] = "medium"
    risk: ClassVar[Level] = "low"
    segment: dict[str, str]
    top_k_from: int | None
    top_k_to: int | None
    # Split long inputs into chunks before retrieval, so each chunk finds its own context.
    chunk_long_inputs: bool

    def title(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.segment.items())
        if self.top_k_from is not None and self.top_k_to is not None:
            verb = "Raise" if self.top_k_to > self.top_k_from else "Lower"
            what = f"{verb} top_k from {self.top_k_from} to {self.top_k_to}"
        else:
            what = "Tune top_k"
        return f"{what}{' and chunk long inputs' if self.chunk_long_inputs else ''}{self._for()} ({where})"


class AdjustGuardrailThreshold(Change):
    type: Literal["adjust_guardrail_threshold"] = "adjust_guardrail_threshold"
    effort: ClassVar[Level] = "low"
    # Loosening a guardrail can let harmful output through: a person must look at the failing traces.
    risk: ClassVar[Level] = "high"
    guardrail: str | None
    segment: dict[str, str]
    current_failure_rate: float
    reference_failure_rate: float

    def title(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.segment.items())
        rule = f"the {self.guardrail} guardrail" if self.guardrail else "the guardrails"
        return f"Review the threshold of {rule}{self._for()} ({where})"


class ScaleAndTimeout(Change):
    type: Literal["scale_and_timeout"] = "scale_and_timeout"
    effort: ClassVar[Level] = "medium"
    risk: ClassVar[Level] = "low"
    segment: dict[str, str]
    # Time out at the SLA and answer from a fallback rather than keep the caller waiting.
    timeout_seconds: float
    # A starting point: the lift says how much slower than usual the segment is, not how many replicas.
    scale_out_factor: float

    def title(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.segment.items())
        what = f"Scale out x{self.scale_out_factor:g} and time out at {self.timeout_seconds:g}s"
        return f"{what}{self._for()} ({where})"


class AddRetryFallback(Change):
    type: Literal["add_retry_and_fallback"] = "add_retry_and_fallback"
    effort: ClassVar[Level] = "medium"
    risk: ClassVar[Level] = "low"
    segment: dict[str, str]
    max_retries: int
    fallback_model: str | None

    def title(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.segment.items())
        fallback = f" with a fallback to {self.fallback_model}" if self.fallback_model else ""
        return f"Retry failed calls{fallback}{self._for()} ({where})"


class InvestigateSegment(Change):
    """No playbook entry fits: the proposal points at the segment and its evidence."""

    type: Literal["investigate_segment"] = "investigate_segment"
    effort: ClassVar[Level] = "medium"
    risk: ClassVar[Level] = "low"
    segment: dict[str, str]
    metric: str

    def title(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.segment.items())
        return f"Investigate {self.metric} failures{self._for()} in {where}"


class InvestigateUnexplained(Change):
    """Nothing explains the failures: what was ruled out and the best leads, no config change. Never low
    risk: acting on it means acting without a cause."""

    type: Literal["investigate"] = "investigate"
    effort: ClassVar[Level] = "medium"
    risk: ClassVar[Level] = "medium"
    metric: str
    ruled_out: list[dict]
    best_candidates: list[dict]

    def title(self) -> str:
        return f"Investigate {self.metric} failures{self._for()}: no tested segment explains them"


UNEXPLAINED = "unexplained"


def root_cause_key(metric: Metric, app: str | None, segment: Segment | None) -> str:
    """Stable across re-runs of the same alert: metric, scope and cause, never figures."""
    parts = [metric.name]
    if app is not None:
        parts.append(f"app={app}")
    if segment is None:
        parts.append(UNEXPLAINED)
    elif not (app is not None and segment.dimension == "app"):
        parts.append("&".join(f"{d}={v}" for d, v in segment.parts))
    return "|".join(parts)


def _best_in_baseline(
    analysis: SegmentAnalysis, dimension: str, exclude: str, min_samples: int
) -> str | None:
    """The value of `dimension` that failed least in the baseline (ties: the one that served more), other
    than `exclude`, its rolled-up ancestors and descendants (`help-center` holds `help-center/doc-17`) and
    values that serve everything (no alternative)."""
    seen = [
        s
        for s in analysis.tables.get(dimension, [])
        if s.value not in (exclude, NONE, OTHER)
        and s.baseline.n >= min_samples
        and not s.constant
        and not s.value.startswith(f"{exclude}/")
        and not exclude.startswith(f"{s.value}/")
    ]
    return min(seen, key=lambda s: (s.baseline.rate, -s.baseline.n, s.value)).value if seen else None


def _previous_version(analysis: SegmentAnalysis, exclude: str, min_samples: int) -> str | None:
    """The prompt version that served most of the baseline, other than the failing one."""
    seen = [
        s
        for s in analysis.tables.get("prompt_version", [])
        if s.value not in (exclude, NONE) and s.baseline.n >= min_samples
    ]
    return max(seen, key=lambda s: (s.baseline.n, s.value)).value if seen else None


def recommend(
    metric: Metric,
    segment: Segment,
    analysis: SegmentAnalysis,
    evidence: Evidence,
    *,
    app: str | None,
    min_samples: int,
    sla_seconds: float,
) -> Change:
    dim, value = segment.dimension, segment.value
    where = segment.where
    target_app = value if dim == "app" else app
    if dim == "prompt_version" and (previous := _previous_version(analysis, value, min_samples)):
        return RollbackPromptVersion(app=target_app, from_version=value, to_version=previous)
    if dim == "model" and (better := _best_in_baseline(analysis, "model", value, min_samples)):
        return SwitchModel(app=target_app, from_model=value, to_model=better)
    if metric.name == "latency":
        factor = min(4.0, max(1.5, round(segment.lift or 1.0, 1)))
        return ScaleAndTimeout(
            app=target_app, segment=where, timeout_seconds=sla_seconds, scale_out_factor=factor
        )
    if metric.name == "error_ratio":
        # Fall back to the baseline's best model other than the one serving most of the window.
        serving = max(analysis.tables.get("model", []), key=lambda s: s.window.n, default=None)
        fallback = _best_in_baseline(analysis, "model", serving.value if serving else "", min_samples)
        return AddRetryFallback(app=target_app, segment=where, max_retries=2, fallback_model=fallback)
    if metric.name == "guardrail_pass":
        rule = evidence.guardrail_rules[0]["rule"] if evidence.guardrail_rules else None
        return AdjustGuardrailThreshold(
            app=target_app,
            guardrail=rule,
            segment=where,
            current_failure_rate=round(segment.window.rate, 6),
            reference_failure_rate=round(segment.reference_rate or 0.0, 6),
        )
    if dim == "retrieval_source" and (better := _best_in_baseline(analysis, dim, value, min_samples)):
        return ChangeRetrievalSource(app=target_app, from_source=value, to_source=better)
    long_inputs = dim == "input_length" and (analysis.sizes.bounds(dim, value)[0] or 0) >= LONG_INPUT_BYTES
    if dim == "retrieval_source" or long_inputs:
        top_k = evidence.top_k
        if top_k is None:
            target = None
        elif metric.name == "cost":
            target = max(1, top_k // 2)  # less context, fewer input tokens
        else:
            target = top_k * 2  # long questions need more context than the default retrieves
        return AdjustRetrieval(
            app=target_app,
            segment=where,
            top_k_from=top_k,
            top_k_to=target,
            chunk_long_inputs=dim == "input_length" and metric.name != "cost",
        )
    return InvestigateSegment(app=target_app, segment=where, metric=metric.name)
