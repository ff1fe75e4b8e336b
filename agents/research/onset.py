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
from metamon.agents.research.segments import Counts, Segment
from metamon.agents.research.sql import metric_params, metric_rows

BUCKETS = 48
# A value that came in within this many buckets of the onset explains it.
TOLERANCE_BUCKETS = 2


@dataclass(frozen=True)
class Onset:
    at: datetime
    tolerance: timedelta
    before: Counts
    after: Counts

    def aligned(self, introduced: datetime | None) -> bool:
        return introduced is not None and abs(introduced - self.at) <= self.tolerance

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


def change_point(buckets: list[Counts], start: datetime, width: timedelta) -> tuple[int, Counts, Counts]:
    """(index of the first bucket after the change, counts before, counts after) over `buckets`."""
    total = Counts(sum(b.n for b in buckets), sum(b.failures for b in buckets))
    first = next((i for i, b in enumerate(buckets) if b.n), 0)
    best, best_gain = (first, Counts(0, 0), total), 0.0
    before = Counts(0, 0)
    for k in range(1, len(buckets)):
        before = Counts(before.n + buckets[k - 1].n, before.failures + buckets[k - 1].failures)
        after = total - before
        if not before.n or not after.n or after.rate <= before.rate:
            continue
        gain = _log_likelihood(before) + _log_likelihood(after) - _log_likelihood(total)
        if gain > best_gain:
            best, best_gain = (k, before, after), gain
    return best


def find_onset(
    session: Session, metric: Metric, *, project_id, app: str | None, window: tuple[datetime, datetime]
) -> Onset:
    length = window[1] - window[0]
    lo, hi = window[0] - length, window[1]
    width = (hi - lo) / BUCKETS
    rows, scope, failed = metric_rows(metric, app)
    found = session.execute(
        text(f"""
            SELECT width_bucket(extract(epoch FROM t.timestamp), :lo_s, :hi_s, :buckets) - 1 AS b,
                   count(*) AS n, count(*) FILTER (WHERE {failed}) AS failures
            FROM {rows}
            WHERE {scope} AND t.timestamp >= :lo AND t.timestamp < :hi
            GROUP BY 1
        """),
        metric_params(metric, project_id, app)
        | {"lo": lo, "hi": hi, "lo_s": lo.timestamp(), "hi_s": hi.timestamp(), "buckets": BUCKETS},
    ).all()
    buckets = [Counts(0, 0)] * BUCKETS
    for r in found:
        if 0 <= r.b < BUCKETS:
            buckets[r.b] = Counts(int(r.n), int(r.failures))
    k, before, after = change_point(buckets, lo, width)
    return Onset(lo + width * k, width * TOLERANCE_BUCKETS, before, after)


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
