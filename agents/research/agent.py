"""The research agent's entry point: from an alert's metric, scope and window to a proposal draft.

segments (SQL counts per discovered dimension value) -> pairs (the strongest values combined) -> onset
(when the failures began, when each value came in) -> ranking (the cause, what was ruled out) ->
evidence (failing traces, grouped reasons) -> playbook (a typed change) -> counterfactual (expected
improvement) -> confidence -> optionally a narrative and alternatives from a chat model. When nothing
explains the failures, an `investigate` draft that says so; None only when nothing failed.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session

from metamon.agents.llm import configured_chat_model
from metamon.agents.research import confidence as conf
from metamon.agents.research import evidence as evidence_mod
from metamon.agents.research import pairs
from metamon.agents.research.counterfactual import counterfactual
from metamon.agents.research.metrics import get_metric
from metamon.agents.research.narrative import write_narrative
from metamon.agents.research.onset import config_changes, find_onset
from metamon.agents.research.playbook import InvestigateUnexplained, recommend, root_cause_key
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
    # The key of an abstention on the same metric and scope: an open one is the question this answers.
    unexplained_key: str
    scope: dict
    root_cause: dict
    evidence: dict
    recommended_change: dict
    # In the metric's units (a ratio), positive = better; evidence["counterfactual"] has the details.
    expected_improvement: float
    effort: str
    risk: str
    # 0..1 from the evidence (confidence.py); evidence["confidence"] has its factors and level.
    confidence: float = 0.0
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
    baseline_start = baseline_start or baseline_end - timedelta(days=settings.research.baseline_days)
    if baseline_end <= baseline_start:
        raise ValueError("baseline_end must be after baseline_start")
    window, baseline = (window_start, window_end), (baseline_start, baseline_end)
    min_samples = settings.research.min_samples
    where = f"{metric} in project {project_id}" + (f", app {app}" if app else "")

    analysis = analyse(
        session,
        m,
        project_id=project_id,
        app=app,
        window=window,
        baseline=baseline,
        min_samples=min_samples,
        work_mem=settings.research.work_mem,
    )
    if analysis.window.failures == 0:
        log.info("research: no proposal for %s: no failures in the window", where)
        return None
    onset = find_onset(
        session,
        m,
        project_id=project_id,
        app=app,
        window=window,
        baseline=baseline,
        baseline_counts=analysis.baseline,
        baseline_keep=analysis.baseline_keep,
    )
    changes = config_changes(session, project_id, app)
    pairs_tested, pairs_kept = pairs.expand(
        session,
        analysis,
        pairs.seeds(analysis, score),
        project_id=project_id,
        app=app,
        window=window,
        baseline=baseline,
        min_samples=min_samples,
    )
    ranking = rank(
        analysis,
        pairs_tested,
        pairs_kept,
        significance=settings.research.significance,
        min_samples=min_samples,
        onset=onset,
        changes=changes,
    )
    scope = {
        "project_id": str(project_id),
        "app": app,
        "metric": metric,
        "window": {"start": window_start.isoformat(), "end": window_end.isoformat()},
        "baseline": {"start": baseline_start.isoformat(), "end": baseline_end.isoformat()},
    }
    provisional = conf.provisional(analysis.window.n, min_samples)
    evidence = {
        "totals": {
            "window_traces": analysis.window.n,
            "window_failures": analysis.window.failures,
            "baseline_traces": analysis.baseline.n,
            "baseline_failures": analysis.baseline.failures,
            # A long baseline is read as a uniform sample (its figures are the sample's).
            "baseline_sampled_fraction": round(analysis.baseline_fraction, 6),
        },
        "onset": onset.as_dict(),
        "tests": {
            "segments_tested": ranking.tested,
            "pairs_tested": len(pairs_tested),
            "p_value_threshold": ranking.threshold,
        },
        "provisional": provisional,
        "ruled_out": [v.as_dict() for v in ranking.ruled_out]
        + [{"dimension": d, "ruled_out_because": "one value everywhere"} for d in analysis.skipped],
        "segments": {dim: [s.as_row() for s in rows[:TABLE_ROWS]] for dim, rows in analysis.tables.items()},
    }
    if not ranking.causes:
        draft = _abstention(m, analysis, ranking, app=app, scope=scope, evidence=evidence)
        log.info("research: %s unexplained (%s): investigate", where, ranking.why_none)
    else:
        draft = _proposal(
            session, settings, m, analysis, ranking, app=app, window=window, scope=scope, evidence=evidence
        )
    draft.confidence = round(
        conf.capped(draft.confidence, provisional=provisional, abstained=not ranking.causes), 6
    )
    draft.evidence["confidence"] |= {"value": draft.confidence, "level": conf.level(draft.confidence)}
    if provisional:
        draft.title = f"[provisional: {analysis.window.n} traces] {draft.title}"
    chat_model = chat_model or configured_chat_model(settings)
    if chat_model is not None:
        reply = write_narrative(
            chat_model,
            {
                "metric": {"name": metric, "label": m.label, "unit": m.unit},
                "scope": scope,
                "root_cause": draft.root_cause,
                "confidence": draft.evidence["confidence"],
                "reasons": draft.evidence.get("reasons", [])[:5],
                "recommended_change": draft.recommended_change | {"effort": draft.effort, "risk": draft.risk},
                "expected": draft.evidence.get("counterfactual"),
                "other_candidates": draft.evidence.get("other_candidates", []),
            },
        )
        if reply is not None:
            draft.narrative = reply.narrative
            draft.alternatives = [a.model_dump() for a in reply.alternatives]
    log.info(
        "research: %s -> %s (%s), confidence %.2f",
        where,
        draft.proposal_type,
        draft.root_cause_key,
        draft.confidence,
    )
    return draft


def _proposal(session, settings, m, analysis, ranking, *, app, window, scope, evidence) -> ProposalDraft:
    top = ranking.causes[0]
    cause = top.segment
    min_samples = settings.research.min_samples
    found = evidence_mod.collect(
        session,
        m,
        cause,
        analysis.sizes,
        project_id=scope["project_id"],
        app=app,
        window=(
            datetime.fromisoformat(scope["window"]["start"]),
            datetime.fromisoformat(scope["window"]["end"]),
        ),
        max_traces=settings.research.evidence_traces,
        max_reasons=settings.research.evidence_reasons,
    )
    target_app = cause.value if cause.dimension == "app" else app
    sla = settings.evaluation.sla_latency_seconds
    change = recommend(
        m,
        cause,
        analysis,
        found,
        app=app,
        min_samples=min_samples,
        sla_seconds=sla.get(target_app or "default", sla.get("default", 2.0)),
    )
    expected = counterfactual(m, analysis, cause, min_samples)
    root_cause = {
        "metric": m.name,
        "dimension": cause.dimension,
        "value": cause.value,
        "segment": cause.where,
        **{k: v for k, v in cause.as_row().items() if k != "value"},
        "introduced_at": top.introduced_at,
        "onset_explained": top.onset_explained,
        "explained_share_of_excess_failures": round(top.explained, 6),
        "p_value_corrected": min(1.0, top.p_corrected),
        "score": round(score(cause), 6),
    }
    evidence |= {
        "trace_ids": found.trace_ids,
        "reasons": found.reasons,
        "guardrail_rules": found.guardrail_rules,
        "top_k": found.top_k,
        "counterfactual": expected.as_dict(),
        "confidence": dict(top.confidence),
        "other_candidates": [v.as_dict() for v in ranking.causes[1 : RUNNER_UPS + 1]],
    }
    return ProposalDraft(
        proposal_type=change.type,
        title=f"{change.title()}: {m.label} {expected.metric_now:.1%} -> "
        f"{expected.metric_if_fixed:.1%} expected",
        app=target_app,
        root_cause_key=root_cause_key(m, app, cause),
        unexplained_key=root_cause_key(m, app, None),
        scope=scope,
        root_cause=root_cause,
        evidence=evidence,
        recommended_change=change.model_dump(),
        expected_improvement=round(expected.improvement, 6),
        effort=change.effort,
        risk=change.risk,
        confidence=top.confidence["value"],
    )


def _abstention(m, analysis, ranking, *, app, scope, evidence) -> ProposalDraft:
    """Nothing explains the failures: an investigate proposal with what was ruled out and the best leads."""
    leads = [v.as_dict() for v in ranking.ruled_out[:RUNNER_UPS]]
    change = InvestigateUnexplained(
        app=app,
        metric=m.name,
        ruled_out=[
            {"dimension": v["dimension"], "value": v["value"], "because": v["ruled_out_because"]}
            for v in evidence["ruled_out"]
            if "value" in v
        ],
        best_candidates=leads,
    )
    best = ranking.ruled_out[0].confidence if ranking.ruled_out else {"value": 0.0, "factors": {}}
    evidence |= {"why_unexplained": ranking.why_none, "confidence": dict(best), "other_candidates": leads}
    return ProposalDraft(
        proposal_type=change.type,
        title=f"{change.title()} ({analysis.window.failures} of {analysis.window.n} traces failing)",
        app=app,
        root_cause_key=root_cause_key(m, app, None),
        unexplained_key=root_cause_key(m, app, None),
        scope=scope,
        root_cause={"metric": m.name, "dimension": None, "value": None, "explained": False},
        evidence=evidence,
        recommended_change=change.model_dump(),
        expected_improvement=0.0,
        effort=change.effort,
        risk=change.risk,
        confidence=best["value"],
    )
