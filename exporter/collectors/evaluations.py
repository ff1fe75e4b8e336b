"""Quality from the evaluation agent: evaluation counters, the latest window's ratios per scope, and
how fresh the latest run is. Ratios come from the runs of the standard window
(`evaluation_window_seconds`): a daily run or a one-off window of another length never replaces them."""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from metamon.exporter.labels import first_seen, fold, heaviest, summed, weighted_mean
from metamon.monitoring.catalogue import MEASURES
from metamon.monitoring.settings import Settings

# The app-wide window (model and domain NULL) is published as model="all", domain="all".
ALL = "all"
SCOPE = ("project", "app", "model", "domain")

_COUNTERS = """
SELECT p.slug AS project, c.app, c.evaluator, c.evaluations, c.failures, c.created_at
FROM evaluation_counters c JOIN projects p ON p.id = c.project_id
"""
_LATEST_RUNS = f"""
SELECT DISTINCT ON (r.project_id, r.app, r.model, r.domain)
    p.slug AS project, r.app, coalesce(r.model, 'all') AS model, coalesce(r.domain, 'all') AS domain,
    r.trace_count, {", ".join(f"r.{m.column}" for m in MEASURES)}
FROM evaluation_runs r JOIN projects p ON p.id = r.project_id
WHERE r.created_at > now() - make_interval(hours => :max_age)
    AND r.window_end - r.window_start = make_interval(secs => :window)
ORDER BY r.project_id, r.app, r.model, r.domain, r.window_end DESC, r.created_at DESC
"""
_FRESHNESS = """
SELECT p.slug AS project, extract(epoch FROM max(r.created_at)) AS last_run
FROM evaluation_runs r JOIN projects p ON p.id = r.project_id GROUP BY p.slug
"""


class EvaluationCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self.sessions, self.settings = sessions, settings

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            counters = [dict(r) for r in session.execute(text(_COUNTERS)).mappings()]
            runs = [
                dict(r)
                for r in session.execute(
                    text(_LATEST_RUNS),
                    {
                        "max_age": self.settings.exporter.run_max_age_hours,
                        "window": self.settings.evaluation.window_seconds,
                    },
                ).mappings()
            ]
            freshness = session.execute(text(_FRESHNESS)).all()
        cap = self.settings.exporter.label_cap

        evaluations = CounterMetricFamily(
            "metamon_evaluations", "Trace evaluations performed.", labels=["project", "app", "evaluator"]
        )
        failures = CounterMetricFamily(
            "metamon_evaluation_failures",
            "Trace evaluations that failed their evaluator's threshold.",
            labels=["project", "app", "evaluator"],
        )
        for key, group in fold(counters, ("project", "app", "evaluator"), ("app",), cap, first_seen).items():
            evaluations.add_metric(list(key), summed(group, "evaluations"))
            failures.add_metric(list(key), summed(group, "failures"))
        yield evaluations
        yield failures

        # Folded scopes are weighted by their trace counts; the "all" rows are never folded away.
        groups = fold(runs, SCOPE, ("app", "model", "domain"), cap + 1, heaviest("trace_count"))
        for measure in MEASURES:
            gauge = GaugeMetricFamily(measure.family, measure.help, labels=list(SCOPE))
            for key, group in groups.items():
                value = weighted_mean(group, measure.column, "trace_count")
                if value is not None:
                    gauge.add_metric(list(key), value)
            yield gauge
        traces = GaugeMetricFamily(
            "metamon_evaluation_window_traces", "Traces in the latest evaluation window.", labels=list(SCOPE)
        )
        for key, group in groups.items():
            traces.add_metric(list(key), summed(group, "trace_count"))
        yield traces

        last_run = GaugeMetricFamily(
            "metamon_evaluation_last_run_timestamp_seconds",
            "Unix time of the project's latest evaluation run.",
            labels=["project"],
        )
        for project, timestamp in freshness:
            last_run.add_metric([project], float(timestamp))
        yield last_run
