"""Traces stored in PostgreSQL but not yet indexed in Elasticsearch."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from metamon.monitoring.outbox import backlog


class IndexBacklogCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            found = backlog(session)
        yield GaugeMetricFamily(
            "metamon_index_backlog_traces",
            "Traces stored but not yet indexed in Elasticsearch.",
            value=found.traces,
        )
        yield GaugeMetricFamily(
            "metamon_index_backlog_oldest_age_seconds",
            "Age of the oldest trace waiting to be indexed (0 when none waits).",
            value=found.oldest_age_seconds,
        )
