"""Bounded label values: per label, the values with the most weight are kept and the rest are folded
into "other", so a client sending a new app or model name per request cannot explode the series count."""

from collections import defaultdict
from collections.abc import Callable, Iterable

OTHER = "other"


def keep_top(weights: dict[str, float], cap: int) -> Callable[[str], str]:
    """A mapping that keeps the `cap` heaviest values (ties by name) and folds the others into OTHER."""
    if len(weights) <= cap:
        return lambda value: value
    kept = set(sorted(weights, key=lambda v: (-weights[v], v))[:cap])
    return lambda value: value if value in kept else OTHER


def fold(
    rows: Iterable[dict], labels: tuple[str, ...], capped: tuple[str, ...], cap: int, weight: str
) -> dict[tuple[str, ...], list[dict]]:
    """Group rows by their label values after capping the `capped` labels, heaviest values first."""
    rows = list(rows)
    maps = {}
    for label in capped:
        weights: dict[str, float] = defaultdict(float)
        for row in rows:
            weights[row[label]] += row[weight]
        maps[label] = keep_top(weights, cap)
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(maps[k](row[k]) if k in maps else row[k] for k in labels)].append(row)
    return groups


def summed(rows: list[dict], field: str) -> float:
    return sum(row[field] for row in rows)


def weighted_mean(rows: list[dict], field: str, weight: str) -> float | None:
    """The mean of `field` weighted by `weight`, over the rows where it is known."""
    known = [row for row in rows if row[field] is not None]
    total = sum(row[weight] for row in known)
    return sum(row[field] * row[weight] for row in known) / total if total else None
