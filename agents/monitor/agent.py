"""The monitor agent (every 5 minutes): per app, the latest bucket of each signal against the EWMA of the
buckets before it. Findings are stored and published by the exporter as `metamon_anomaly_score`;
paging stays in Prometheus rules, never here."""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from metamon.agents.monitor.ewma import ewma, z_score
from metamon.monitoring.catalogue import SIGNALS
from metamon.monitoring.db.models import MonitorFinding
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)

# Which way is worse, per signal (from the metric catalogue): scores are oriented so that a positive
# z-score is a degradation.
WORSE_WHEN_HIGHER = SIGNALS
# Signals that are shares of a bucket's traces (means of values in [0, 1]): their z-score counts the
# bucket's sampling error. The latency percentile is not one.
SHARES = {s for s in SIGNALS if s != "latency_p95"}

# Bucket 0 is the latest [now - bucket, now); bucket k the one k buckets before it.
_BUCKETS = """
WITH per_trace AS (
    SELECT t.project_id, t.app, t.status, t.latency_seconds,
        floor(extract(epoch FROM (:now - t.timestamp)) / CAST(:bucket AS float8))::int AS bucket,
        max(e.score) FILTER (WHERE e.evaluator = 'fact_accuracy') AS fact,
        bool_and(e.passed) FILTER (WHERE e.evaluator = 'guardrails') AS guard,
        bool_and(e.passed) FILTER (WHERE e.evaluator = 'sla') AS sla
    FROM traces t LEFT JOIN trace_evaluations e ON e.trace_id = t.id
    WHERE t.timestamp > :now - make_interval(secs => CAST(:bucket AS float8) * CAST(:buckets AS float8))
        AND t.timestamp <= :now
    GROUP BY t.id
)
SELECT project_id, app, bucket, count(*) AS samples,
    avg((status = 'error')::int)::float AS error_ratio,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_seconds) AS latency_p95,
    (avg((NOT sla)::int) FILTER (WHERE sla IS NOT NULL))::float AS sla_violation_ratio,
    avg(fact) AS fact_accuracy,
    (avg(guard::int) FILTER (WHERE guard IS NOT NULL))::float AS guardrail_pass
FROM per_trace GROUP BY project_id, app, bucket ORDER BY project_id, app, bucket DESC
"""


@dataclass(frozen=True)
class Finding:
    project_id: uuid.UUID
    app: str
    signal: str
    value: float | None
    expected: float | None
    z_score: float
    samples: int
    history_buckets: int
    anomalous: bool
    detail: str


def judge(settings: Settings, signal: str, buckets: dict[int, dict]) -> tuple:
    """(value, expected, oriented z, samples, history buckets, anomalous, detail) for one signal."""
    current = buckets.get(0)
    samples = current["samples"] if current else 0
    value = current[signal] if current else None
    history = [
        buckets[k][signal]
        for k in sorted(buckets, reverse=True)  # oldest first
        if k > 0 and buckets[k]["samples"] >= settings.monitor.min_samples and buckets[k][signal] is not None
    ]
    if value is None or samples < settings.monitor.min_samples:
        return value, None, 0.0, samples, len(history), False, f"{samples} samples in the latest bucket"
    if len(history) < settings.monitor.min_history:
        return value, None, 0.0, samples, len(history), False, f"{len(history)} buckets of history"
    expected = ewma(history, settings.monitor.ewma_alpha)
    z = z_score(
        value,
        expected,
        settings.monitor.std_floor,
        settings.monitor.std_floor_relative,
        samples if signal in SHARES else None,
    )
    z = z if WORSE_WHEN_HIGHER[signal] else -z
    anomalous = z >= settings.monitor.z_threshold
    detail = f"{value:.4g} against EWMA {expected.mean:.4g} ± {expected.std:.3g} (z {z:+.2f})"
    return value, expected.mean, z, samples, len(history), anomalous, detail


def monitor(session: Session, settings: Settings, *, now: datetime | None = None) -> list[Finding]:
    """Compute every app's findings and replace the stored ones with them, in the caller's transaction."""
    now = now or datetime.now(UTC)
    rows = session.execute(
        text(_BUCKETS),
        {"now": now, "bucket": settings.monitor.bucket_seconds, "buckets": settings.monitor.history_buckets},
    ).mappings()
    by_app: dict[tuple[uuid.UUID, str], dict[int, dict]] = {}
    for row in rows:
        by_app.setdefault((row["project_id"], row["app"]), {})[row["bucket"]] = dict(row)
    findings = [
        Finding(project_id, app, signal, *judge(settings, signal, buckets))
        for (project_id, app), buckets in by_app.items()
        for signal in WORSE_WHEN_HIGHER
    ]
    session.execute(delete(MonitorFinding))
    if findings:
        session.add_all(MonitorFinding(**f.__dict__, computed_at=now) for f in findings)
    session.flush()
    for f in findings:
        if f.anomalous:
            log.warning("anomaly", extra={"app": f.app, "signal": f.signal, "detail": f.detail})
    return findings
