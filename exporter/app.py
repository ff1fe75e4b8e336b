"""The exporter process: a registry of metamon's collectors served on /metrics (`metamon exporter`)."""

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.collectors.index_backlog import IndexBacklogCollector
from monitoring.db.session import session_factory
from monitoring.settings import Settings

log = logging.getLogger(__name__)


class SelfCollector(Collector):
    """Wraps the other collectors: times each scrape and counts the collectors that failed, so a
    broken database shows up as a metric instead of a failed scrape."""

    def __init__(self, collectors: list[Collector]):
        self.collectors = collectors
        self.errors = 0

    def collect(self) -> Iterator[Metric]:
        start = time.perf_counter()
        families: list[Metric] = []
        for collector in self.collectors:
            try:
                families.extend(collector.collect())
            except Exception:  # one failing source must not hide the others
                self.errors += 1
                log.exception("collector %s failed", type(collector).__name__)
        yield from families
        yield GaugeMetricFamily(
            "metamon_exporter_scrape_duration_seconds",
            "Time the exporter spent collecting this scrape.",
            value=time.perf_counter() - start,
        )
        yield CounterMetricFamily(
            "metamon_exporter_scrape_errors",
            "Collector failures since the exporter started.",
            value=self.errors,
        )


def build_registry(settings: Settings) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    sessions = session_factory(settings.database_url)
    registry.register(SelfCollector([IndexBacklogCollector(sessions)]))
    return registry


def serve(settings: Settings) -> None:
    start_http_server(settings.exporter_port, addr=settings.api_host, registry=build_registry(settings))
    while True:
        time.sleep(3600)
