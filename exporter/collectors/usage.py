"""Request, error, token, cost and SLA counters and the latency histogram, from `usage_counters`.

The counts live in PostgreSQL (the API adds to them in each ingest transaction), so they are monotonic
across exporter and API restarts and agree however many API workers there are. Backfilled traces (far
older than their arrival, see monitoring/usage.py) are only in metamon_backfilled_requests_total: the
alerts' rates read the other families, which hold live traffic alone."""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metamon.exporter.labels import first_seen, fold, summed
from metamon.monitoring.db.models import Project, UsageCounter
from metamon.monitoring.settings import Settings


class UsageCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self.sessions, self.settings = sessions, settings

    def _rows(self) -> list[dict]:
        with self.sessions() as session:
            found = session.execute(select(Project.slug.label("project"), UsageCounter).join(Project)).all()
        return [
            {"project": project, **{c.name: getattr(row, c.name) for c in UsageCounter.__table__.columns}}
            for project, row in found
        ]

    def collect(self) -> Iterator[Metric]:
        everything = self._rows()
        rows = [row for row in everything if not row["backfill"]]
        cap = self.settings.exporter.label_cap
        requests = CounterMetricFamily(
            "metamon_requests",
            "LLM requests (traces) received.",
            labels=["project", "app", "model", "status"],
        )
        for key, group in fold(
            rows, ("project", "app", "model", "status"), ("app", "model"), cap, first_seen
        ).items():
            requests.add_metric(list(key), summed(group, "requests"))
        yield requests

        tokens = CounterMetricFamily(
            "metamon_tokens", "LLM tokens used.", labels=["project", "app", "model", "direction"]
        )
        cost = CounterMetricFamily(
            "metamon_llm_cost_dollars",
            "LLM spend in US dollars (reported by the app, else tokens x the price table).",
            labels=["project", "app", "model"],
        )
        for key, group in fold(rows, ("project", "app", "model"), ("app", "model"), cap, first_seen).items():
            tokens.add_metric([*key, "input"], summed(group, "input_tokens"))
            tokens.add_metric([*key, "output"], summed(group, "output_tokens"))
            cost.add_metric(list(key), summed(group, "cost_usd"))
        yield tokens
        yield cost

        violations = CounterMetricFamily(
            "metamon_sla_violations",
            "Requests slower than their app's SLA latency.",
            labels=["project", "app"],
        )
        duration = HistogramMetricFamily(
            "metamon_request_duration_seconds",
            "End-to-end latency of LLM requests as reported in their traces.",
            labels=["project", "app"],
        )
        bounds = [floatToGoString(b) for b in self.settings.usage.latency_buckets_seconds]
        for key, group in fold(rows, ("project", "app"), ("app",), cap, first_seen).items():
            violations.add_metric(list(key), summed(group, "sla_violations"))
            cumulative = [sum(row["latency_buckets"][i] for row in group) for i in range(len(bounds))]
            count = summed(group, "latency_count")
            duration.add_metric(
                list(key),
                buckets=[*zip(bounds, cumulative, strict=True), ("+Inf", count)],
                sum_value=summed(group, "latency_sum"),
            )
        yield violations
        yield duration

        backfilled = CounterMetricFamily(
            "metamon_backfilled_requests",
            "Traces received long after their timestamp (backfills, flushed backlogs): not in the rates.",
            labels=["project", "app", "status"],
        )
        late = [row for row in everything if row["backfill"]]
        for key, group in fold(late, ("project", "app", "status"), ("app",), cap, first_seen).items():
            backfilled.add_metric(list(key), summed(group, "requests"))
        yield backfilled
