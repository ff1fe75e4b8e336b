"""The monitor agent's findings: how many standard deviations each app's signal is on the bad side."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from metamon.exporter.labels import fold, heaviest
from metamon.monitoring.settings import Settings

_FINDINGS = """
SELECT p.slug AS project, f.app, f.signal, f.z_score, f.samples, extract(epoch FROM f.computed_at) AS at
FROM monitor_findings f JOIN projects p ON p.id = f.project_id
"""


class AnomalyCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self.sessions, self.settings = sessions, settings

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            rows = session.execute(text(_FINDINGS)).mappings().all()
        groups = fold(
            rows,
            ("project", "app", "signal"),
            ("app",),
            self.settings.exporter.label_cap,
            heaviest("samples"),
        )
        # A folded group publishes its worst score.
        scores = {key: max(row["z_score"] for row in group) for key, group in groups.items()}
        gauge = GaugeMetricFamily(
            "metamon_anomaly_score",
            "Standard deviations of the latest 5 minutes from the signal's EWMA, positive when worse "
            "(0 while there are too few samples or too little history).",
            labels=["project", "app", "signal"],
        )
        for key, value in sorted(scores.items()):
            gauge.add_metric(list(key), value)
        yield gauge
        if rows:
            yield GaugeMetricFamily(
                "metamon_monitor_last_run_timestamp_seconds",
                "Unix time of the monitor agent's latest run.",
                value=float(max(row["at"] for row in rows)),
            )
