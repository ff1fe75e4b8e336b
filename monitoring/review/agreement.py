"""Cohen's kappa between two reviewers over the traces both labelled."""

from collections import Counter

from metamon.monitoring.db.models.review import LABELS


def cohens_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Agreement beyond chance: 1 is perfect, 0 is chance, negative is worse than chance.
    None when undefined (no pairs, or both reviewers used one identical label throughout)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in LABELS) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)
