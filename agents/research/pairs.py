"""Pairs of dimension values, found by expanding the strongest single segments (MacroBase's explanation
operator: combine only what already has support and risk, keep a combination only when its risk
clearly exceeds both of its halves').

One pass over the scope counts the rows per (period, failed, which seeds hold) as a bit mask; every
pair's counts are sums over the masks."""

from dataclasses import replace
from itertools import combinations

from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.agents.research.dimensions import order, predicate
from metamon.agents.research.segments import Segment, SegmentAnalysis, make_segment
from metamon.agents.research.sql import IN_PERIODS, IN_WINDOW, periods, tuned
from metamon.monitoring.statistics.failures import Counts, metric_params, metric_rows

# Singles expanded into pairs: the strongest this many that fail more than their reference at p < 0.05.
SEEDS = 6
SEED_P = 0.05
# A pair is kept when it fails at least this many times as often as each of its halves.
GAIN = 1.5


def seeds(analysis: SegmentAnalysis, score) -> list[Segment]:
    worse = [
        s
        for s in analysis.tested()
        if s.reference_rate is not None and s.window.rate > s.reference_rate and s.p_value < SEED_P
    ]
    return sorted(worse, key=lambda s: (-score(s), s.dimension, s.value))[:SEEDS]


def expand(
    session: Session,
    analysis: SegmentAnalysis,
    singles: list[Segment],
    *,
    project_id,
    app: str | None,
    window,
    baseline,
    min_samples: int,
) -> tuple[list[Segment], list[Segment]]:
    """(pairs tested, pairs kept) among the pairs of `singles` from different dimensions."""
    candidates = [
        (a, b)
        for a, b in combinations(range(len(singles)), 2)
        if singles[a].dimension != singles[b].dimension
    ]
    if not candidates:
        return [], []
    metric = analysis.metric
    rows, scope, failed = metric_rows(metric, app)
    conds, params = [], metric_params(metric, project_id, app)
    for i, s in enumerate(singles):
        ((dimension, value),) = s.parts
        cond, p = predicate(dimension, value, analysis.sizes, f"s{i}")
        conds.append(f"(CASE WHEN {cond} THEN {1 << i} ELSE 0 END)")
        params |= p
    with tuned(session):
        found = session.execute(
            text(f"""
            SELECT {IN_WINDOW} AS in_window, {failed} AS failed, {" + ".join(conds)} AS mask, count(*) AS n
            FROM {rows}
            WHERE {scope}
              AND {IN_PERIODS}
            GROUP BY 1, 2, 3
        """),
            params | periods(window, baseline, analysis.baseline_keep),
        ).all()
    tested, kept = [], []
    for a, b in candidates:
        bits = (1 << a) | (1 << b)
        held = [r for r in found if r.mask & bits == bits]
        w = Counts(sum(r.n for r in held if r.in_window), sum(r.n for r in held if r.in_window and r.failed))
        base = Counts(
            sum(r.n for r in held if not r.in_window), sum(r.n for r in held if not r.in_window and r.failed)
        )
        halves = singles[a], singles[b]
        times = [h.first_seen for h in halves if h.first_seen]
        pair = make_segment(
            tuple(sorted(halves[0].parts + halves[1].parts, key=lambda part: (order(part[0]), part[0]))),
            w,
            base,
            window_total=analysis.window,
            baseline_total=analysis.baseline,
            min_samples=min_samples,
        )
        pair = replace(pair, first_seen=max(times) if times else None)
        if not pair.tested:
            continue
        tested.append(pair)
        if w.failures and all(w.rate >= GAIN * h.window.rate for h in halves):
            kept.append(pair)
    return tested, kept
