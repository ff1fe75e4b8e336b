"""Per-dimension failure tables: for each value of each dimension, its failure rate in the alert's window,
its lift against a reference failure rate, its share of the window's failures and a two-proportion test.

All counting happens in PostgreSQL, in one pass over the window and the baseline: rows are counted per
combination of dimension values (FILTER clauses split failures out), and the combinations are rolled
up per dimension with GROUPING SETS.

The reference a value is compared with is, in order of preference: the same value in the baseline (when
it had at least `min_samples` traces there), the whole baseline (a value new in the window), the rest of
the window (no usable baseline at all). A value that makes up the entire scope in both periods (one model
serving everything, the app of an app-scoped alert) is not tested: it cannot tell one cause from another.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.agents.research.metrics import Metric
from metamon.agents.research.sql import DIMENSIONS, metric_params, metric_rows
from metamon.agents.research.stats import two_proportion_p_value

Reference = Literal["value_baseline", "overall_baseline", "rest_of_window"]


@dataclass(frozen=True)
class Counts:
    n: int
    failures: int

    @property
    def rate(self) -> float:
        return self.failures / self.n if self.n else 0.0

    def __sub__(self, other: "Counts") -> "Counts":
        return Counts(self.n - other.n, self.failures - other.failures)


@dataclass(frozen=True)
class Segment:
    dimension: str
    value: str
    window: Counts
    baseline: Counts
    # Share of the window's failures that fall in this segment.
    share: float
    reference: Reference | None = None
    reference_rate: float | None = None
    lift: float | None = None
    p_value: float | None = None
    # Whole scope in both periods: kept in the table, never tested.
    constant: bool = False

    @property
    def tested(self) -> bool:
        return self.p_value is not None

    def as_row(self) -> dict:
        return {
            "value": self.value,
            "window_traces": self.window.n,
            "window_failures": self.window.failures,
            "window_failure_rate": round(self.window.rate, 6),
            "baseline_traces": self.baseline.n,
            "baseline_failures": self.baseline.failures,
            "baseline_failure_rate": round(self.baseline.rate, 6) if self.baseline.n else None,
            "reference": self.reference,
            "reference_failure_rate": _round(self.reference_rate),
            "lift": _round(self.lift),
            "share_of_failures": round(self.share, 6),
            "p_value": self.p_value,
            "constant": self.constant,
        }


@dataclass(frozen=True)
class SegmentAnalysis:
    metric: Metric
    window: Counts
    baseline: Counts
    # dimension -> its values, most window failures first
    tables: dict[str, list[Segment]]

    def tested(self) -> list[Segment]:
        return [s for rows in self.tables.values() for s in rows if s.tested]

    def segment(self, dimension: str, value: str) -> Segment | None:
        return next((s for s in self.tables.get(dimension, []) if s.value == value), None)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _count_rows(
    session: Session,
    metric: Metric,
    *,
    project_id,
    app: str | None,
    window: tuple[datetime, datetime],
    baseline: tuple[datetime, datetime],
    work_mem: str,
) -> list[tuple[str, str, Counts, Counts]]:
    """(dimension, value, window counts, baseline counts) for every value seen in either period."""
    rows, scope, failed = metric_rows(metric, app)
    dims = ", ".join(f"{expr} AS {name}" for name, expr in DIMENSIONS.items())
    names = ", ".join(DIMENSIONS)
    in_window = "t.timestamp >= :window_start AND t.timestamp < :window_end"
    # Count each combination of values first (one hash aggregate that runs in parallel, one group per
    # combination seen: thousands, not millions), then roll the combinations up per dimension; six hash
    # tables over the rows themselves cost twice as much. GROUP BY by position: `model` alone would name
    # the raw column, not its coalesced value.
    positions = ", ".join(str(i) for i in range(1, len(DIMENSIONS) + 2))
    sql = f"""
        WITH combos AS (
            SELECT {dims}, {in_window} AS in_window,
                   count(*) AS n, count(*) FILTER (WHERE {failed}) AS failures
            FROM {rows}
            WHERE {scope}
              AND (({in_window}) OR (t.timestamp >= :baseline_start AND t.timestamp < :baseline_end))
            GROUP BY {positions}
        )
        SELECT {names},
               coalesce(sum(n) FILTER (WHERE in_window), 0) AS window_n,
               coalesce(sum(failures) FILTER (WHERE in_window), 0) AS window_failures,
               coalesce(sum(n) FILTER (WHERE NOT in_window), 0) AS baseline_n,
               coalesce(sum(failures) FILTER (WHERE NOT in_window), 0) AS baseline_failures
        FROM combos
        GROUP BY GROUPING SETS ({", ".join(f"({name})" for name in DIMENSIONS)})
    """
    params = metric_params(metric, project_id, app) | {
        "window_start": window[0],
        "window_end": window[1],
        "baseline_start": baseline[0],
        "baseline_end": baseline[1],
    }
    # The join's hash table holds one small row per scored trace: give it room for this query only.
    # (A failing query aborts the transaction, and the local setting goes with it.)
    set_work_mem = text("SELECT set_config('work_mem', :mem, true)")
    previous = session.execute(text("SELECT current_setting('work_mem')")).scalar()
    session.execute(set_work_mem, {"mem": work_mem})
    result = session.execute(text(sql), params).all()
    session.execute(set_work_mem, {"mem": previous})
    counted = []
    for r in result:
        # Dimension values are never NULL (coalesced), so the one non-NULL column names the grouping set.
        dimension = next(name for name in DIMENSIONS if getattr(r, name) is not None)
        counted.append(
            (
                dimension,
                getattr(r, dimension),
                Counts(int(r.window_n), int(r.window_failures)),
                Counts(int(r.baseline_n), int(r.baseline_failures)),
            )
        )
    return counted


def analyse(
    session: Session,
    metric: Metric,
    *,
    project_id,
    app: str | None,
    window: tuple[datetime, datetime],
    baseline: tuple[datetime, datetime],
    min_samples: int,
    work_mem: str = "64MB",
) -> SegmentAnalysis:
    raw: dict[str, list[tuple[str, Counts, Counts]]] = {name: [] for name in DIMENSIONS}
    for dimension, value, in_window, in_baseline in _count_rows(
        session, metric, project_id=project_id, app=app, window=window, baseline=baseline, work_mem=work_mem
    ):
        raw[dimension].append((value, in_window, in_baseline))
    # Every trace has an app, so the app table sums to the totals.
    window_total = Counts(sum(w.n for _, w, _ in raw["app"]), sum(w.failures for _, w, _ in raw["app"]))
    baseline_total = Counts(sum(b.n for _, _, b in raw["app"]), sum(b.failures for _, _, b in raw["app"]))
    tables = {
        name: sorted(
            (
                _segment(name, value, w, b, window_total, baseline_total, min_samples)
                for value, w, b in values
            ),
            key=lambda s: (-s.window.failures, -s.window.n, s.value),
        )
        for name, values in raw.items()
    }
    return SegmentAnalysis(metric, window_total, baseline_total, tables)


def _segment(
    dimension: str,
    value: str,
    window: Counts,
    baseline: Counts,
    window_total: Counts,
    baseline_total: Counts,
    min_samples: int,
) -> Segment:
    share = window.failures / window_total.failures if window_total.failures else 0.0
    segment = Segment(dimension, value, window, baseline, share)
    if window.n == window_total.n and baseline.n == baseline_total.n:
        return Segment(dimension, value, window, baseline, share, constant=True)
    if window.n < min_samples:
        return segment
    rest = window_total - window
    reference: tuple[Reference, Counts] | None = next(
        (
            (kind, counts)
            for kind, counts in (
                ("value_baseline", baseline),
                ("overall_baseline", baseline_total),
                ("rest_of_window", rest),
            )
            if counts.n >= min_samples
        ),
        None,
    )
    if reference is None:
        return segment
    kind, ref = reference
    # A reference without failures counts as half a failure, so the lift stays finite.
    lift = window.rate / max(ref.rate, 0.5 / ref.n)
    p_value = two_proportion_p_value(window.failures, window.n, ref.failures, ref.n)
    return Segment(dimension, value, window, baseline, share, kind, ref.rate, lift, p_value)
