"""Alertmanager webhook bodies (version 4), as Alertmanager sends them."""

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def alert(fingerprint: str, *, status: str = "firing", starts: datetime = T0, **labels: str) -> dict:
    # The generated rules label each alert with its metric; a test naming another alert names its metric too.
    fact_accuracy = {"alertname": "MetamonFactAccuracyLow", "metric": "fact_accuracy"}
    default = {} if "alertname" in labels else fact_accuracy
    labels = {**default, "severity": "critical", **labels}
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{labels['alertname']} on {labels.get('app', '?')}"},
        "startsAt": starts.isoformat(),
        "endsAt": (starts + timedelta(minutes=30)).isoformat()
        if status == "resolved"
        else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict, receiver: str = "metamon-webhook") -> dict:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="MetamonFactAccuracyLow"}',
        "truncatedAlerts": 0,
        "status": "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing",
        "receiver": receiver,
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
