"""The mixed load of `make load` (loadtests/load.py runs it headless): who uses the API, and how often.

| user class | weight | think time | each time |
| --- | --- | --- | --- |
| RestProducer | 1 | 1 s (constant pacing) | POST /api/v1/traces, 50 traces |
| OtlpProducer | 1 | 1 s (constant pacing) | POST /v1/traces, protobuf, 50 traces (LLM + retriever spans) |
| DashboardReader | 12 | 5 s (constant pacing) | the six API views a dashboard refreshes |
| Reviewer | 4 | 2-4 s | a search (3 in 5), the review queue (1 in 5), a label (1 in 5) |
| AlertmanagerStorm | 2 | 2 s (constant pacing) | the webhook, one notification of 10 alerts re-sent |

100 users: 5 + 5 producers (500 traces/s), 60 readers (72 requests/s), 20 reviewers, 10 Alertmanagers.

By hand: METAMON_KEY (scopes ingest, read, review) and METAMON_WEBHOOK_TOKEN set, then
    .venv/bin/locust -f loadtests/locustfile.py --host http://127.0.0.1:8000
"""

import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from locust import HttpUser, between, constant_pacing, task
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import T0, make_trace, sentence  # noqa: E402

BATCH = 50
SEARCHES = ["refund", "insulin dosage", "password reset", "flight hotel", "invoice"]
PROTOBUF = "application/x-protobuf"


class _Keyed(HttpUser):
    abstract = True

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['METAMON_KEY']}"
        self.rng = random.Random()


class RestProducer(_Keyed):
    """An LLM application sending its traces over REST."""

    weight, wait_time = 1, constant_pacing(1)

    @task
    def ingest(self) -> None:
        batch_id, now = uuid.uuid4().hex[:12], datetime.now(UTC).isoformat()
        batch = [make_trace(i, self.rng, T0) for i in range(BATCH)]
        for trace in batch:  # fresh ids, stamped now (as live traffic is, not a backfill)
            trace["id"], trace["timestamp"] = f"load-{batch_id}-{trace['id']}", now
        self.client.post("/api/v1/traces", json={"traces": batch}, name="POST /api/v1/traces")


def _attr(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


class OtlpProducer(_Keyed):
    """An application instrumented with OpenTelemetry: an LLM span and its retriever child per trace."""

    weight, wait_time = 1, constant_pacing(1)

    @task
    def export(self) -> None:
        request = ExportTraceServiceRequest()
        spans = request.resource_spans.add().scope_spans.add().spans
        now = time.time_ns()
        for i in range(BATCH):
            domain = random.choice(["billing", "shipping", "travel"])
            trace_id, root = uuid.uuid4().bytes, uuid.uuid4().bytes[:8]
            llm = Span(trace_id=trace_id, span_id=root, name="chat", kind=Span.SPAN_KIND_CLIENT)
            llm.start_time_unix_nano, llm.end_time_unix_nano = now - 900_000_000, now
            llm.attributes.extend(
                [
                    _attr("gen_ai.operation.name", "chat"),
                    _attr("gen_ai.request.model", "gpt-4o-mini"),
                    _attr("gen_ai.prompt", sentence(self.rng, 30, domain) + "?"),
                    _attr("gen_ai.completion", sentence(self.rng, 45, domain) + "."),
                    _attr("gen_ai.usage.input_tokens", self.rng.randint(50, 800)),
                    _attr("gen_ai.usage.output_tokens", self.rng.randint(10, 300)),
                    _attr("metamon.domain", domain),
                ]
            )
            retriever = Span(trace_id=trace_id, span_id=uuid.uuid4().bytes[:8], parent_span_id=root)
            retriever.name = "retrieve"
            retriever.start_time_unix_nano = now - 900_000_000
            retriever.end_time_unix_nano = now - 800_000_000
            retriever.attributes.extend(
                [
                    _attr("openinference.span.kind", "RETRIEVER"),
                    _attr("retrieval.documents.0.document.id", f"kb-{i % 500}"),
                    _attr("retrieval.documents.0.document.content", sentence(self.rng, 25, domain)),
                ]
            )
            spans.extend([llm, retriever])
        self.client.post(
            "/v1/traces",
            data=request.SerializeToString(),
            headers={"Content-Type": PROTOBUF},
            name="POST /v1/traces",
        )


class DashboardReader(_Keyed):
    """A Grafana-like reader refreshing the API's views."""

    weight, wait_time = 12, constant_pacing(5)

    @task
    def refresh(self) -> None:
        for path, params in (
            ("/api/v1/metrics/latest", {}),
            ("/api/v1/metrics/trends", {"timeframe": "24h", "bucket": "1h"}),
            ("/api/v1/alerts", {}),
            ("/api/v1/alerts/stats", {}),
            ("/api/v1/proposals", {}),
            ("/api/v1/proposals/stats", {}),
        ):
            self.client.get(path, params=params, name=f"GET {path}")


class Reviewer(_Keyed):
    """An expert searching traces, pulling from the review queue and labelling."""

    weight, wait_time = 4, between(2, 4)

    def on_start(self) -> None:
        super().on_start()
        self.name, self.to_label = f"reviewer-{uuid.uuid4().hex[:6]}", []

    @task(3)
    def search(self) -> None:
        params = {"q": random.choice(SEARCHES), "size": 20}
        self.client.get("/api/v1/search/traces", params=params, name="GET /api/v1/search/traces")

    @task(1)
    def queue(self) -> None:
        reply = self.client.get(
            "/api/v1/expert-review/queue",
            params={"reviewer": self.name, "limit": 10},
            name="GET /api/v1/expert-review/queue",
        )
        if reply.ok:
            self.to_label = [item["trace_id"] for item in reply.json()["items"]]

    @task(1)
    def label(self) -> None:
        if not self.to_label:
            return
        label = random.choice(["pass", "fail"])
        body = {"trace_id": self.to_label.pop(), "reviewer": self.name, "label": label}
        self.client.post("/api/v1/expert-review/label", json=body, name="POST /api/v1/expert-review/label")


class AlertmanagerStorm(HttpUser):
    """Alertmanager re-sending a group of ten firing alerts (the same fingerprints each time)."""

    weight, wait_time = 2, constant_pacing(2)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['METAMON_WEBHOOK_TOKEN']}"
        group = uuid.uuid4().hex[:8]
        starts = datetime.now(UTC).isoformat()
        self.alerts = [
            {
                "status": "firing",
                "labels": {"alertname": "MetamonLoadStorm", "severity": "high", "instance": f"{group}-{i}"},
                "annotations": {"summary": "a storm of notifications from the load test"},
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": f"{group}{i:08x}",
            }
            for i in range(10)
        ]

    @task
    def notify(self) -> None:
        body = {
            "version": "4",
            "groupKey": '{}:{alertname="MetamonLoadStorm"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "metamon-webhook",
            "groupLabels": {"alertname": "MetamonLoadStorm"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "alerts": self.alerts,
        }
        self.client.post("/api/v1/alerts/webhook", json=body, name="POST /api/v1/alerts/webhook")
