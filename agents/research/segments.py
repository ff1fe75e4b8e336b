"""Per-dimension failure tables: for each value of each dimension discovered in the data (see
dimensions.py), its failure rate in the alert's window, its lift against a reference failure rate, its
share of the window's failures, a two-proportion test, and the same against the rest of the window.

All counting happens in PostgreSQL, in one pass over the window and the baseline: rows are first
counted per combination of their attributes (thousands of groups, not millions), the combinations are
expanded into (dimension, value) facts, and the facts are summed. Each dimension keeps its heaviest
`VALUES_PER_DIMENSION` values; the rest fold into "(other)". A dimension with one value everywhere is
skipped: it cannot tell one cause from another.

The reference a value is compared with is, in order of preference: the same value in the baseline (when
it had at least `min_samples` traces there), the whole baseline (a value new in the window), the rest of
the window (no usable baseline at all).
"""

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.agents.research.dimensions import (
    FACTS,
    OTHER,
    SCOPED_COLUMNS,
    SCOPED_NAMES,
    SIZE_QUANTILES,
    SIZES,
    SPAN_FACTS,
    SizeBuckets,
    round_edge,
)
from metamon.agents.research.metrics import Metric
from metamon.agents.research.sql import ALL, IN_BASELINE, IN_PERIODS, IN_WINDOW, periods, tuned
from metamon.monitoring.statistics.failures import Counts, metric_params, metric_rows
from metamon.monitoring.statistics.significance import two_proportion_p_value

Reference = Literal["value_baseline", "overall_baseline", "rest_of_window"]
VALUES_PER_DIMENSION = 50
# A longer baseline is read as a uniform sample of about this many traces.
BASELINE_SAMPLE = 100_000


@dataclass(frozen=True)
class Segment:
    """One dimension value, or a conjunction of values of different dimensions (a pair)."""

    parts: tuple[tuple[str, str], ...]
    window: Counts
    baseline: Counts
    # Share of the window's failures that fall in this segment, and of the window's traces.
    share: float
    coverage: float = 0.0
    first_seen: datetime | None = None
    reference: Reference | None = None
    reference_rate: float | None = None
    lift: float | None = None
    p_value: float | None = None
    # Against the rest of the window (None when either side is too small to test).
    rest_rate: float | None = None
    within_p_value: float | None = None
    # Whole scope in both periods, or the fold of the values beyond the cap: shown, never tested.
    constant: bool = False
    folded: bool = False

    @property
    def dimension(self) -> str:
        return " & ".join(d for d, _ in self.parts)

    @property
    def value(self) -> str:
        return " & ".join(v for _, v in self.parts)

    @property
    def where(self) -> dict[str, str]:
        return dict(self.parts)

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
            "share_of_window": round(self.coverage, 6),
            "p_value": self.p_value,
            "rest_of_window_failure_rate": _round(self.rest_rate),
            "rest_of_window_p_value": self.within_p_value,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "constant": self.constant,
            "folded": self.folded,
        }


@dataclass(frozen=True)
class SegmentAnalysis:
    metric: Metric
    window: Counts
    baseline: Counts
    # dimension -> its values, most window failures first
    tables: dict[str, list[Segment]]
    sizes: SizeBuckets
    # Dimensions of one value everywhere: not tested, listed as ruled out.
    skipped: list[str] = field(default_factory=list)
    # The baseline sample, out of sql.ALL (see sql.IN_PERIODS): every query over the periods uses it.
    baseline_keep: int = ALL

    @property
    def baseline_fraction(self) -> float:
        return self.baseline_keep / ALL

    def tested(self) -> list[Segment]:
        return [s for rows in self.tables.values() for s in rows if s.tested]

    def segment(self, dimension: str, value: str) -> Segment | None:
        return next((s for s in self.tables.get(dimension, []) if s.value == value), None)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _size_edges(session: Session, metric: Metric, app: str | None, params: dict) -> SizeBuckets:
    """Bucket edges at quantiles of the window's input and output sizes (rounded, deduplicated)."""
    rows, scope, _ = metric_rows(metric, app)
    quantiles = ", ".join(
        f"percentile_disc(CAST(:quantiles AS float8[])) WITHIN GROUP (ORDER BY octet_length({col})) AS {name}"
        for name, col in SIZES.items()
    )
    found = session.execute(
        text(f"SELECT {quantiles} FROM {rows} WHERE {scope} AND {IN_WINDOW}"),
        params | {"quantiles": list(SIZE_QUANTILES)},
    ).one()
    edges = {}
    for name in SIZES:
        values = getattr(found, name) or []
        edges[name] = sorted({round_edge(v) for v in values if v and v > 0})
    return SizeBuckets(edges)


def _count_rows(
    session: Session, metric: Metric, *, app: str | None, params: dict, sizes: SizeBuckets, work_mem: str
) -> list:
    rows, scope, failed = metric_rows(metric, app)
    sql = f"""
        WITH scoped AS (
            SELECT t.id, {IN_WINDOW} AS in_window, {failed} AS failed, t.timestamp AS ts, {SCOPED_COLUMNS}
            FROM {rows}
            WHERE {scope}
              AND {IN_PERIODS}
        ), combos AS (
            SELECT in_window, {SCOPED_NAMES},
                   count(*) AS n, count(*) FILTER (WHERE failed) AS failures, min(ts) AS first_seen
            FROM scoped
            GROUP BY in_window, {SCOPED_NAMES}
        ), counted AS (
            SELECT f.dimension, f.value,
                   coalesce(sum(c.n) FILTER (WHERE c.in_window), 0) AS window_n,
                   coalesce(sum(c.failures) FILTER (WHERE c.in_window), 0) AS window_failures,
                   coalesce(sum(c.n) FILTER (WHERE NOT c.in_window), 0) AS baseline_n,
                   coalesce(sum(c.failures) FILTER (WHERE NOT c.in_window), 0) AS baseline_failures,
                   min(c.first_seen) AS first_seen
            FROM combos c CROSS JOIN LATERAL ({FACTS}) AS f(dimension, value)
            GROUP BY 1, 2
            UNION ALL
            {SPAN_FACTS}
        ), ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY dimension
                ORDER BY window_failures DESC, window_n DESC, baseline_n DESC, value) AS rank
            FROM counted
        )
        SELECT dimension, CASE WHEN rank <= :cap THEN value ELSE '{OTHER}' END AS value,
               bool_or(rank > :cap) AS folded,
               sum(window_n) AS window_n, sum(window_failures) AS window_failures,
               sum(baseline_n) AS baseline_n, sum(baseline_failures) AS baseline_failures,
               min(first_seen) AS first_seen
        FROM ranked
        GROUP BY 1, 2
    """
    # The hash aggregates hold one small row per combination: give them room for this query only. The
    # planner multiplies the attributes' distinct counts into far more combinations than there are and
    # picks a sort that spills to disk; the hash aggregate holds the real few thousand: no sort.
    with tuned(session, work_mem=work_mem, enable_sort="off"):
        result = session.execute(
            text(sql),
            params
            | {
                "input_edges": sizes.edges["input_length"],
                "output_edges": sizes.edges["output_length"],
                "cap": VALUES_PER_DIMENSION,
            },
        ).all()
    return result


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
    params = metric_params(metric, project_id, app) | periods(window, baseline)
    # The baseline's traces (scored or not: this only sizes the sample), from the index.
    baseline_traces = session.execute(
        text(f"SELECT count(*) FROM traces t WHERE {metric_rows(metric, app)[1]} AND {IN_BASELINE}"), params
    ).scalar()
    keep = min(ALL, math.ceil(ALL * BASELINE_SAMPLE / max(baseline_traces, 1)))
    params |= {"baseline_keep": keep}
    sizes = _size_edges(session, metric, app, params)
    raw: dict[str, list] = {}
    for r in _count_rows(session, metric, app=app, params=params, sizes=sizes, work_mem=work_mem):
        value = sizes.label(r.dimension, int(r.value)) if r.dimension in SIZES and not r.folded else r.value
        raw.setdefault(r.dimension, []).append(
            (
                value,
                Counts(int(r.window_n), int(r.window_failures)),
                Counts(int(r.baseline_n), int(r.baseline_failures)),
                r.first_seen,
                bool(r.folded),
            )
        )
    for name in SIZES:
        raw[name] = raw.get(name, []) + _tails(sizes, name, raw.get(name, []))
    # Every trace has an app, so the app table sums to the totals.
    apps = raw.get("app", [])
    window_total = Counts(sum(w.n for _, w, *_ in apps), sum(w.failures for _, w, *_ in apps))
    baseline_total = Counts(sum(b.n for _, _, b, *_ in apps), sum(b.failures for _, _, b, *_ in apps))
    tables, skipped = {}, []
    for name, values in sorted(raw.items()):
        rows = sorted(
            (
                make_segment(
                    ((name, value),),
                    w,
                    b,
                    window_total=window_total,
                    baseline_total=baseline_total,
                    min_samples=min_samples,
                    first_seen=seen,
                    folded=folded,
                )
                for value, w, b, seen, folded in values
            ),
            key=lambda s: (-s.window.failures, -s.window.n, s.value),
        )
        if len(rows) == 1 and rows[0].constant:
            skipped.append(name)
        else:
            tables[name] = rows
    return SegmentAnalysis(metric, window_total, baseline_total, tables, sizes, skipped, keep)


def _tails(sizes: SizeBuckets, dimension: str, buckets: list) -> list:
    """The upper tails of a size dimension, summed from its buckets (one size per trace: no overlap)."""
    by_label = {value: (w, b, seen) for value, w, b, seen, _ in buckets}
    ordered = [by_label.get(sizes.label(dimension, i)) for i in range(len(sizes.edges[dimension]) + 1)]
    tails = []
    for label, first in sizes.tails(dimension):
        held = [x for x in ordered[first:] if x is not None]
        if held:
            w = sum((x[0] for x in held), Counts(0, 0))
            b = sum((x[1] for x in held), Counts(0, 0))
            seen = min((x[2] for x in held if x[2] is not None), default=None)
            tails.append((label, w, b, seen, False))
    return tails


def _test(window: Counts, ref: Counts) -> tuple[float, float]:
    """(lift, p-value) of `window` against `ref`. A reference without failures counts as half a
    failure, so the lift stays finite."""
    lift = window.rate / max(ref.rate, 0.5 / ref.n)
    return lift, two_proportion_p_value(window, ref)


def make_segment(
    parts: tuple[tuple[str, str], ...],
    window: Counts,
    baseline: Counts,
    *,
    window_total: Counts,
    baseline_total: Counts,
    min_samples: int,
    first_seen: datetime | None = None,
    folded: bool = False,
) -> Segment:
    share = window.failures / window_total.failures if window_total.failures else 0.0
    coverage = window.n / window_total.n if window_total.n else 0.0
    base = {"share": share, "coverage": coverage, "first_seen": first_seen}
    if window.n == window_total.n and baseline.n == baseline_total.n:
        return Segment(parts, window, baseline, **base, constant=True)
    if folded or window.n < min_samples:
        return Segment(parts, window, baseline, **base, folded=folded)
    rest = window_total - window
    within = {}
    if rest.n >= min_samples:
        within = {"rest_rate": rest.rate, "within_p_value": _test(window, rest)[1]}
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
        return Segment(parts, window, baseline, **base, **within)
    kind, ref = reference
    lift, p_value = _test(window, ref)
    return Segment(
        parts,
        window,
        baseline,
        **base,
        reference=kind,
        reference_rate=ref.rate,
        lift=lift,
        p_value=p_value,
        **within,
    )
