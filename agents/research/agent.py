"""The research agent's entry point: from an alert's metric, scope and window to a proposal draft.

segments (SQL counts per dimension value) -> ranking (the segment that explains the failures) ->
evidence (failing traces, grouped reasons) -> playbook (a typed change) -> counterfactual (expected
improvement) -> optionally a narrative and alternatives from a chat model. None when nothing
significant explains the failures; the log line says why.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session

from metamon.agents.llm import configured_chat_model
from metamon.agents.research import evidence as evidence_mod
from metamon.agents.research.counterfactual import counterfactual
from metamon.agents.research.metrics import get_metric
from metamon.agents.research.narrative import write_narrative
from metamon.agents.research.playbook import recommend, root_cause_key
from metamon.agents.research.ranking import rank, score
from metamon.agents.research.segments import analyse
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)

# Rows kept per dimension table in the evidence (most window failures first).
TABLE_ROWS = 20
# Runner-up segments listed next to the chosen one.
RUNNER_UPS = 3


@dataclass
class ProposalDraft:
    proposal_type: str
    title: str
    app: str | None
    root_cause_key: str
    scope: dict
    root_cause: dict
    evidence: dict
    recommended_change: dict
    # In the metric's units (a ratio), positive = better; evidence["counterfactual"] has the details.
    expected_improvement: float
    effort: str
    risk: str
    narrative: str | None = None
    alternatives: list[dict] = field(default_factory=list)


def research(
    session: Session,
    settings: Settings,
    *,
    project_id,
    metric: str,
    app: str | None = None,
    window_start: datetime,
    window_end: datetime,
    baseline_start: datetime | None = None,
    baseline_end: datetime | None = None,
    chat_model: BaseChatModel | None = None,
) -> ProposalDraft | None:
    m = get_metric(metric)
    if window_end <= window_start:
        raise ValueError("window_end must be after window_start")
    # The baseline ends where the window starts unless told otherwise, and spans research_baseline_days.
    baseline_end = baseline_end or window_start
    baseline_start = baseline_start or baseline_end - timedelta(days=settings.research_baseline_days)
    if baseline_end <= baseline_start:
        raise ValueError("baseline_end must be after baseline_start")
    window, baseline = (window_start, window_end), (baseline_start, baseline_end)
    min_samples = settings.research_min_samples
    where = f"{metric} in project {project_id}" + (f", app {app}" if app else "")

    analysis = analyse(
        session,
        m,
        project_id=project_id,
        app=app,
        window=window,
        baseline=baseline,
        min_samples=min_samples,
        work_mem=settings.research_work_mem,
    )
    ranking = rank(analysis, settings.research_significance, min_samples)
    if not ranking.candidates:
        log.info("research: no proposal for %s: %s", where, ranking.why_none)
        return None
    top = ranking.candidates[0]
    found = evidence_mod.collect(
        session,
        m,
        top,
        project_id=project_id,
        app=app,
        window=window,
        max_traces=settings.research_evidence_traces,
        max_reasons=settings.research_evidence_reasons,
    )
    target_app = top.value if top.dimension == "app" else app
    sla = settings.sla_latency_seconds
    change = recommend(
        m,
        top,
        analysis,
        found,
        app=app,
        min_samples=min_samples,
        sla_seconds=sla.get(target_app or "default", sla.get("default", 2.0)),
    )
    expected = counterfactual(m, analysis, top, min_samples)

    scope = {
        "project_id": str(project_id),
        "app": app,
        "metric": metric,
        "window": {"start": window_start.isoformat(), "end": window_end.isoformat()},
        "baseline": {"start": baseline_start.isoformat(), "end": baseline_end.isoformat()},
    }
    root_cause = {
        "metric": metric,
        "dimension": top.dimension,
        "value": top.value,
        **{k: v for k, v in top.as_row().items() if k != "value"},
        "score": round(score(top), 6),
    }
    evidence = {
        "trace_ids": found.trace_ids,
        "reasons": found.reasons,
        "guardrail_rules": found.guardrail_rules,
        "top_k": found.top_k,
        "counterfactual": expected.as_dict(),
        "totals": {
            "window_traces": analysis.window.n,
            "window_failures": analysis.window.failures,
            "baseline_traces": analysis.baseline.n,
            "baseline_failures": analysis.baseline.failures,
        },
        "tests": {"segments_tested": ranking.tested, "p_value_threshold": ranking.threshold},
        "other_candidates": [
            {
                "dimension": s.dimension,
                "value": s.value,
                "lift": round(s.lift, 6),
                "share_of_failures": round(s.share, 6),
                "p_value": s.p_value,
                "score": round(score(s), 6),
            }
            for s in ranking.candidates[1 : RUNNER_UPS + 1]
        ],
        "segments": {dim: [s.as_row() for s in rows[:TABLE_ROWS]] for dim, rows in analysis.tables.items()},
    }
    draft = ProposalDraft(
        proposal_type=change.type,
        title=f"{change.title()}: {m.label} {expected.metric_now:.1%} -> "
        f"{expected.metric_if_fixed:.1%} expected",
        app=target_app,
        root_cause_key=root_cause_key(m, app, top),
        scope=scope,
        root_cause=root_cause,
        evidence=evidence,
        recommended_change=change.model_dump(),
        expected_improvement=round(expected.improvement, 6),
        effort=change.effort,
        risk=change.risk,
    )
    chat_model = chat_model or configured_chat_model(settings)
    if chat_model is not None:
        reply = write_narrative(
            chat_model,
            {
                "metric": {"name": metric, "label": m.label, "unit": m.unit},
                "scope": scope,
                "root_cause": root_cause,
                "reasons": found.reasons[:5],
                "recommended_change": draft.recommended_change | {"effort": draft.effort, "risk": draft.risk},
                "expected": expected.as_dict(),
                "other_candidates": evidence["other_candidates"],
            },
        )
        if reply is not None:
            draft.narrative = reply.narrative
            draft.alternatives = [a.model_dump() for a in reply.alternatives]
    log.info(
        "research: %s -> %s (%s=%s, lift %.2f, share %.0f%%, p=%.2g), expected +%.4f",
        where,
        change.type,
        top.dimension,
        top.value,
        top.lift,
        top.share * 100,
        top.p_value,
        expected.improvement,
    )
    return draft
