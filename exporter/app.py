"""The exporter process: a registry of metamon's collectors served on /metrics (`metamon exporter`)."""

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from metamon.exporter.collectors.anomalies import AnomalyCollector
from metamon.exporter.collectors.evaluations import EvaluationCollector
from metamon.exporter.collectors.failures import FailuresCollector
from metamon.exporter.collectors.index_backlog import IndexBacklogCollector
from metamon.exporter.collectors.usage import UsageCollector
from metamon.exporter.collectors.workflow import WorkflowCollector
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)


class CachedCollector(Collector):
    """Serves a collector's families from memory for `ttl` seconds: several Prometheus servers (or a
    fast scrape interval) then cost the database one query round per ttl. Failures are not cached."""

    def __init__(self, collector: Collector, ttl: float):
        self.collector, self.ttl = collector, ttl
        self.lock = threading.Lock()
        self.families: list[Metric] = []
        self.expires = 0.0

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            if time.monotonic() >= self.expires:
                self.families = list(self.collector.collect())
                self.expires = time.monotonic() + self.ttl
            return iter(self.families)


class SelfCollector(Collector):
    """Wraps the other collectors: times each scrape and counts the collectors that failed, so a
    broken database shows up as a metric instead of a failed scrape."""

    def __init__(self, collectors: list[Collector]):
        self.collectors = collectors
        self.errors = {name_of(c): 0 for c in collectors}

    def collect(self) -> Iterator[Metric]:
        start = time.perf_counter()
        families: list[Metric] = []
        for collector in self.collectors:
            try:
                families.extend(collector.collect())
            except Exception:  # one failing source must not hide the others
                self.errors[name_of(collector)] += 1
                log.exception("collector %s failed", name_of(collector))
        yield from families
        yield GaugeMetricFamily(
            "metamon_exporter_scrape_duration_seconds",
            "Time the exporter spent collecting this scrape.",
            value=time.perf_counter() - start,
        )
        errors = CounterMetricFamily(
            "metamon_exporter_scrape_errors",
            "Collector failures since the exporter started.",
            labels=["collector"],
        )
        for name, count in self.errors.items():
            errors.add_metric([name], count)
        yield errors


def name_of(collector: Collector) -> str:
    return type(getattr(collector, "collector", collector)).__name__


def build_registry(settings: Settings) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    sessions = session_factory(settings.database.url)
    collectors: list[Collector] = [
        IndexBacklogCollector(sessions),
        UsageCollector(sessions, settings),
        EvaluationCollector(sessions, settings),
        WorkflowCollector(sessions, settings),
        AnomalyCollector(sessions, settings),
        FailuresCollector(sessions, settings),
    ]
    registry.register(
        SelfCollector([CachedCollector(c, settings.exporter.cache_seconds) for c in collectors])
    )
    return registry


def serve(settings: Settings) -> None:
    start_http_server(settings.exporter.port, addr=settings.api.host, registry=build_registry(settings))
    while True:
        time.sleep(3600)
