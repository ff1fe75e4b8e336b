"""The metrics research explains: a view of the metric catalogue (metamon.monitoring.catalogue), where each
metric's failure predicate, direction and units are defined."""

from metamon.monitoring.catalogue import METRICS, Metric, get_metric

__all__ = ["METRICS", "Metric", "get_metric"]
