"""The human side of the loop: proposals by status, open alerts by severity, the review queue's size."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from metamon.monitoring.db.models.alerts import SEVERITIES
from metamon.monitoring.db.models.proposals import PROPOSAL_STATUSES
from metamon.monitoring.settings import Settings

_PROPOSALS = """
SELECT p.slug, x.status, count(*) FROM improvement_proposals x JOIN projects p ON p.id = x.project_id
GROUP BY p.slug, x.status
"""
_OPEN_ALERTS = "SELECT severity, count(*) FROM monitoring_alerts WHERE status <> 'resolved' GROUP BY severity"
# Tier 1 of the review queue (monitoring/review/queue.py): unlabelled, failing or borderline.
_REVIEW_QUEUE = """
SELECT p.slug, count(*) FROM traces t JOIN projects p ON p.id = t.project_id
WHERE t.timestamp >= now() - make_interval(days => :days)
    AND NOT EXISTS (SELECT 1 FROM review_labels l WHERE l.trace_id = t.id)
    AND EXISTS (SELECT 1 FROM trace_evaluations e WHERE e.trace_id = t.id
        AND (e.passed IS FALSE OR abs(e.score - 0.5) <= :margin))
GROUP BY p.slug
"""


class WorkflowCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self.sessions, self.settings = sessions, settings

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            proposals = session.execute(text(_PROPOSALS)).all()
            alerts = dict(session.execute(text(_OPEN_ALERTS)).all())
            queue = session.execute(
                text(_REVIEW_QUEUE),
                {"days": self.settings.review.queue_days, "margin": self.settings.review.borderline_margin},
            ).all()
        by_project: dict[str, dict[str, int]] = {}
        for project, status, count in proposals:
            by_project.setdefault(project, {})[status] = count
        gauge = GaugeMetricFamily(
            "metamon_improvement_proposals", "Improvement proposals by status.", labels=["project", "status"]
        )
        # Every status of a project is published, zeros included, so rates and alerts see no gaps.
        for project, counts in sorted(by_project.items()):
            for status in PROPOSAL_STATUSES:
                gauge.add_metric([project, status], counts.get(status, 0))
        yield gauge

        open_alerts = GaugeMetricFamily(
            "metamon_open_alerts", "Alerts firing or acknowledged, not yet resolved.", labels=["severity"]
        )
        for severity in SEVERITIES:
            open_alerts.add_metric([severity], alerts.get(severity, 0))
        yield open_alerts

        review = GaugeMetricFamily(
            "metamon_review_queue_traces",
            "Unlabelled traces with a failing or borderline evaluator score, waiting for expert review.",
            labels=["project"],
        )
        for project, count in queue:
            review.add_metric([project], count)
        yield review
