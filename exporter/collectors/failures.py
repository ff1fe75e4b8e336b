"""Work that hostile data set aside: evaluator errors (an evaluator raised on a trace, the trace kept
its other scores) and the search index's dead letters (traces Elasticsearch refused)."""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from metamon.exporter.labels import first_seen, fold, summed
from metamon.monitoring.settings import Settings

_ERRORS = """
SELECT p.slug AS project, c.app, c.evaluator, c.errors, c.created_at
FROM evaluation_counters c JOIN projects p ON p.id = c.project_id
"""
_DEAD_LETTERS = """
SELECT p.slug, count(d.trace_id) FROM projects p LEFT JOIN index_dead_letters d ON d.project_id = p.id
GROUP BY p.slug
"""


class FailuresCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self.sessions, self.settings = sessions, settings

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            counters = [dict(r) for r in session.execute(text(_ERRORS)).mappings()]
            dead = session.execute(text(_DEAD_LETTERS)).all()
        errors = CounterMetricFamily(
            "metamon_evaluator_errors",
            "Trace evaluations where the evaluator raised instead of scoring (recorded on the trace).",
            labels=["project", "app", "evaluator"],
        )
        labels = ("project", "app", "evaluator")
        for key, group in fold(
            counters, labels, ("app",), self.settings.exporter.label_cap, first_seen
        ).items():
            errors.add_metric(list(key), summed(group, "errors"))
        yield errors
        letters = GaugeMetricFamily(
            "metamon_index_dead_letters",
            "Traces Elasticsearch refused, set aside until retried (metamon dead-letters).",
            labels=["project"],
        )
        for project, count in dead:
            letters.add_metric([project], count)
        yield letters
