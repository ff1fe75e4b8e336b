"""Impact of a rolled-out change on its proposal's metric, measured from the app's own traces.

- after: the traces tagged with the candidate's `config_version` since it was created;
- before: the control group, the app's other traces over the same time (served by the active config
  while the candidate served its share); without any, the app's traces over a window as long as the
  rollout so far, ending when the candidate was created;
- significance: a two-proportion z-test on their failure rates (settings.rollout.impact_alpha);
- ROI, in USD per 30 days:

      ROI = Δ × V × R / 1000
      Δ = failure rate before − failure rate after, in percentage points (positive: fewer failures)
      V = settings.rollout.impact_value_per_point_usd, what one point is worth per 1,000 requests
      R = the app's requests per 30 days, estimated as its traces in the last 7 days × 30 / 7

Rows and failures are those metamon.monitoring.statistics.failures defines for the metric, which research
counts too, so a rollout is judged with the same definitions that made the proposal."""

from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from metamon.monitoring.catalogue import METRICS, Metric
from metamon.monitoring.db.models import AppConfig, ImprovementImpact, ImprovementProposal, Trace
from metamon.monitoring.settings import Settings
from metamon.monitoring.statistics.failures import Counts, metric_params, metric_rows
from metamon.monitoring.statistics.significance import two_proportion_p_value

ROI_DAYS = 30
TRAFFIC_DAYS = 7


def _period(counts: Counts, start: datetime, end: datetime) -> dict:
    return {
        "traces": counts.n,
        "failures": counts.failures,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def metric_of(proposal: ImprovementProposal) -> Metric | None:
    """The metric the proposal set out to improve, or None for one made by hand without any."""
    name = (proposal.root_cause or {}).get("metric") or (proposal.scope or {}).get("metric")
    return METRICS.get(name) if isinstance(name, str) else None


def split_counts(
    session: Session, metric: Metric, config: AppConfig, start: datetime, end: datetime
) -> tuple[Counts, Counts]:
    """(traces tagged with this config's version, every other trace of its app) in [start, end)."""
    rows, where, failed = metric_rows(metric, config.app)
    # ->> reads {"config_version": 3} and {"config_version": "3"} alike.
    sql = text(
        f"SELECT coalesce(t.metadata ->> 'config_version' = :version, false) AS candidate, "
        f"count(*) AS n, count(*) FILTER (WHERE {failed}) AS failures "
        f"FROM {rows} WHERE {where} AND t.timestamp >= :start AND t.timestamp < :end GROUP BY 1"
    )
    params = metric_params(metric, config.project_id, config.app) | {
        "version": str(config.version),
        "start": start,
        "end": end,
    }
    found = {row.candidate: Counts(row.n, row.failures) for row in session.execute(sql, params)}
    return found.get(True, Counts()), found.get(False, Counts())


def requests_per_30_days(session: Session, config: AppConfig, now: datetime) -> float:
    recent = session.scalar(
        select(func.count()).where(
            Trace.project_id == config.project_id,
            Trace.app == config.app,
            Trace.timestamp > now - timedelta(days=TRAFFIC_DAYS),
            Trace.timestamp <= now,
        )
    )
    return recent * ROI_DAYS / TRAFFIC_DAYS


def measure(
    session: Session,
    settings: Settings,
    proposal: ImprovementProposal,
    candidate: AppConfig,
    now: datetime,
) -> ImprovementImpact | None:
    """Store the impact at the proposal's current stage; None when the proposal names no metric."""
    metric = metric_of(proposal)
    if metric is None:
        return None
    started = candidate.created_at
    after, before = split_counts(session, metric, candidate, started, now)
    before_start = started
    if not before.n:
        before_start = started - (now - started)
        before = sum(split_counts(session, metric, candidate, before_start, started), Counts())
    requests = requests_per_30_days(session, candidate, now)
    p_value = roi = delta_points = None
    if before.n and after.n:
        p_value = two_proportion_p_value(before, after)
        delta_points = (before.rate - after.rate) * 100
        roi = delta_points * settings.rollout.impact_value_per_point_usd * requests / 1000
    impact = ImprovementImpact(
        proposal_id=proposal.id,
        metric=metric.name,
        rollout_percent=proposal.rollout_percent,
        before_value=before.value(metric),
        after_value=after.value(metric),
        p_value=p_value,
        significant=None if p_value is None else p_value < settings.rollout.impact_alpha,
        roi_usd=roi,
        details={
            "config_version": candidate.version,
            "before": _period(before, before_start, now if before_start == started else started),
            "after": _period(after, started, now),
            "delta_points": delta_points,
            "requests_per_30_days": requests,
            "value_per_point_usd": settings.rollout.impact_value_per_point_usd,
            "roi_formula": "delta_points * value_per_point_usd * requests_per_30_days / 1000",
        },
    )
    session.add(impact)
    session.flush()
    return impact
