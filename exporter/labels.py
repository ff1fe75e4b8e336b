"""Bounded label values: per label, `cap` values keep their name and the rest are folded into "other",
so a client sending a new app or model name per request cannot explode the series count.

Which values keep their name depends on the metric type. Gauges keep the heaviest values (most traces):
they may change from one scrape to the next. Counters keep the values first seen: a value that keeps
its series never loses it, so neither its series nor `other` ever goes down (a drop would read as a
counter reset to Prometheus)."""

from collections import defaultdict
from collections.abc import Callable, Iterable

OTHER = "other"
Rank = Callable[[list[dict]], object]  # the rows of one label value -> its rank, smallest kept first


def heaviest(weight: str) -> Rank:
    return lambda rows: -sum(row[weight] for row in rows)


def first_seen(rows: list[dict]) -> object:
    return min(row["created_at"] for row in rows)


def keep_top(rows_by_value: dict[str, list[dict]], cap: int, rank: Rank) -> Callable[[str], str]:
    """A mapping that keeps the `cap` best-ranked values (ties by name) and folds the others into OTHER."""
    if len(rows_by_value) <= cap:
        return lambda value: value
    ranks = {value: rank(rows) for value, rows in rows_by_value.items()}
    kept = set(sorted(ranks, key=lambda v: (ranks[v], v))[:cap])
    return lambda value: value if value in kept else OTHER


def fold(
    rows: Iterable[dict], labels: tuple[str, ...], capped: tuple[str, ...], cap: int, rank: Rank
) -> dict[tuple[str, ...], list[dict]]:
    """Group rows by their label values after capping the `capped` labels."""
    rows = list(rows)
    maps = {}
    for label in capped:
        by_value: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_value[row[label]].append(row)
        maps[label] = keep_top(by_value, cap, rank)
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(maps[k](row[k]) if k in maps else row[k] for k in labels)].append(row)
    return groups


def summed(rows: list[dict], field: str) -> float:
    # This and weighted_mean run once per series at every scrape; most groups hold a single row.
    return rows[0][field] if len(rows) == 1 else sum(row[field] for row in rows)


def weighted_mean(rows: list[dict], field: str, weight: str) -> float | None:
    """The mean of `field` weighted by `weight`, over the rows where it is known."""
    if len(rows) == 1:
        return rows[0][field] if rows[0][weight] else None
    known = [row for row in rows if row[field] is not None]
    total = sum(row[weight] for row in known)
    return sum(row[field] * row[weight] for row in known) / total if total else None
