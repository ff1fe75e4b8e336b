"""When the failures began, and when each value came in: a cause must explain the onset.

The onset is the change point of the failure rate over the window and as long again before it: the
split of its time buckets into before/after that gains the most binomial log-likelihood with the rate
rising. A value comes in at its first trace in the counted periods, or at the first app config that set
it (`app_configs`, by config key: `prompt_version`, `model`, or a metadata key), whichever is earlier."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.agents.research.dimensions import COLUMNS
from metamon.agents.research.metrics import Metric
from metamon.agents.research.segments import Segment
from metamon.agents.research.sql import ALL, IN_BASELINE, SAMPLED, periods
from metamon.monitoring.statistics.failures import Counts, metric_params, metric_rows

BUCKETS = 48
# A value that came in within this many buckets of the onset explains it, and so does one whose arrival
# lies in the change point's 99% likelihood interval: its split loses at most chi2(1, 0.99) / 2 of
# log-likelihood against the best (a stray failure in a thin stretch moves the change point, not the
# story; with plenty of traces the interval is tight).
TOLERANCE_BUCKETS = 2
LIKELIHOOD_INTERVAL = 6.635 / 2


@dataclass(frozen=True)
class Onset:
    at: datetime
    tolerance: timedelta
    before: Counts
    after: Counts
    # The time buckets the change point was found in (see find_onset).
    buckets: tuple[Counts, ...] = ()
    start: datetime | None = None
    width: timedelta | None = None

    def aligned(self, introduced: datetime | None) -> bool:
        if introduced is None:
            return False
        if abs(introduced - self.at) <= self.tolerance:
            return True
        if not self.buckets or introduced < self.start:
            return False
        # Bucket 0 is the baseline before `start`; bucket i covers [start + (i-1) width, start + i width).
        k = min(int((introduced - self.start) / self.width) + 1, len(self.buckets) - 1)
        best = split_gain(self.buckets, change_point(list(self.buckets))[0])
        gain = split_gain(self.buckets, k)
        return gain > 0 and best - gain <= LIKELIHOOD_INTERVAL

    def predates(self, introduced: datetime | None) -> bool:
        return introduced is not None and introduced < self.at - self.tolerance

    def as_dict(self) -> dict:
        return {
            "at": self.at.isoformat(),
            "tolerance_seconds": self.tolerance.total_seconds(),
            "failure_rate_before": round(self.before.rate, 6) if self.before.n else None,
            "failure_rate_after": round(self.after.rate, 6) if self.after.n else None,
        }


def _log_likelihood(c: Counts) -> float:
    p = c.rate
    return sum(k * math.log(q) for k, q in ((c.failures, p), (c.n - c.failures, 1 - p)) if k)


def split_gain(buckets, k: int) -> float:
    """Log-likelihood gained by two failure rates, before and from bucket k, over one; 0 unless it rises."""
    before = Counts(sum(b.n for b in buckets[:k]), sum(b.failures for b in buckets[:k]))
    after = Counts(sum(b.n for b in buckets[k:]), sum(b.failures for b in buckets[k:]))
    if not before.n or not after.n or after.rate <= before.rate:
        return 0.0
    return _log_likelihood(before) + _log_likelihood(after) - _log_likelihood(before + after)


def change_point(buckets: list[Counts]) -> tuple[int, Counts, Counts]:
    """(index of the first bucket after the change, counts before, counts after) over `buckets`; without
    a rise, the first bucket with traces."""
    first = next((i for i, b in enumerate(buckets) if b.n), 0)
    k = max(range(1, len(buckets)), key=lambda i: (split_gain(buckets, i), -i), default=first)
    if split_gain(buckets, k) <= 0:
        k = first
    before = Counts(sum(b.n for b in buckets[:k]), sum(b.failures for b in buckets[:k]))
    after = Counts(sum(b.n for b in buckets[k:]), sum(b.failures for b in buckets[k:]))
    return k, before, after


def find_onset(
    session: Session,
    metric: Metric,
    *,
    project_id,
    app: str | None,
    window: tuple[datetime, datetime],
    baseline: tuple[datetime, datetime],
    baseline_counts: Counts,
    baseline_keep: int = ALL,
) -> Onset:
    """The change point over the window and as long again before it, in BUCKETS time buckets after one
    more: the rest of the baseline, so that a thin stretch before the window is read against it."""
    length = window[1] - window[0]
    lo, hi = window[0] - length, window[1]
    width = (hi - lo) / BUCKETS
    rows, scope, failed = metric_rows(metric, app)
    found = session.execute(
        text(f"""
            SELECT width_bucket(extract(epoch FROM t.timestamp), :lo_s, :hi_s, :buckets) AS b,
                   {IN_BASELINE} AS in_baseline,
                   count(*) AS n, count(*) FILTER (WHERE {failed}) AS failures
            FROM {rows}
            WHERE {scope} AND t.timestamp >= :lo AND t.timestamp < :hi AND (NOT ({IN_BASELINE}) OR {SAMPLED})
            GROUP BY 1, 2
        """),
        metric_params(metric, project_id, app)
        | {
            "lo": lo,
            "hi": hi,
            "lo_s": lo.timestamp(),
            "hi_s": hi.timestamp(),
            "buckets": BUCKETS,
        }
        | periods(window, baseline, baseline_keep),
    ).all()
    buckets = [Counts(0, 0)] * (BUCKETS + 1)
    prior = baseline_counts
    for r in found:
        if 1 <= r.b <= BUCKETS:
            buckets[r.b] = buckets[r.b] + Counts(int(r.n), int(r.failures))
            if r.in_baseline:
                prior = prior - Counts(int(r.n), int(r.failures))
    buckets[0] = Counts(max(prior.n, 0), max(min(prior.failures, prior.n), 0))
    k, before, after = change_point(buckets)
    # Across a stretch without traces every split scores the same: the change shows with the next trace.
    k = max(1, next((i for i in range(k, len(buckets)) if buckets[i].n), k))
    return Onset(lo + width * (k - 1), width * TOLERANCE_BUCKETS, before, after, tuple(buckets), lo, width)


def config_changes(session: Session, project_id, app: str | None) -> dict[tuple[str, str], datetime]:
    """(dimension, value) -> when an app config first set it."""
    found = session.execute(
        text(
            "SELECT kv.key, left(kv.value, 200) AS value, min(c.created_at) AS at "
            "FROM app_configs c CROSS JOIN LATERAL jsonb_each_text("
            "    CASE WHEN jsonb_typeof(c.config) = 'object' THEN c.config ELSE '{}'::jsonb END) kv "
            "WHERE c.project_id = :project_id" + (" AND c.app = :app" if app is not None else "") + " "
            "GROUP BY 1, 2"
        ),
        {"project_id": project_id, "app": app},
    ).all()
    changes = {}
    for r in found:
        changes[(r.key if r.key in COLUMNS else f"metadata.{r.key}", r.value)] = r.at
    return changes


def introduced(segment: Segment, changes: dict[tuple[str, str], datetime]) -> datetime | None:
    """When a segment came in: its first trace, or the config that first set it if earlier. A pair's
    first_seen is already the later of its halves' (it exists once both do)."""
    times = [segment.first_seen] + ([changes.get(segment.parts[0])] if len(segment.parts) == 1 else [])
    known = [t for t in times if t is not None]
    return min(known) if known else None
