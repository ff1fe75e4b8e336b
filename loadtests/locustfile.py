"""A mixed load for exploring by hand with locust (the measured figures come from bench_traces.py).

    METAMON_KEY=$(metamon keys create --project load --scopes ingest,read,review | tail -1) \\
        .venv/bin/locust -f loadtests/locustfile.py --host http://127.0.0.1:8000
"""

import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import T0, make_trace  # noqa: E402

SEARCHES = ["refund", "insulin dosage", "password reset", "flight hotel", "invoice"]


class Application(HttpUser):
    """An LLM application sending batches of traces."""

    wait_time = between(0.5, 1.5)
    weight = 3

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['METAMON_KEY']}"
        self.rng = random.Random()

    @task
    def ingest(self) -> None:
        start = self.rng.randint(0, 10_000_000)
        batch = [make_trace(start + i, self.rng, T0) for i in range(100)]
        for trace in batch:
            trace["id"] = f"load-{trace['id']}"
        self.client.post("/api/v1/traces", json={"traces": batch}, name="POST /api/v1/traces")


class Reviewer(HttpUser):
    """An expert searching traces and pulling from the review queue."""

    wait_time = between(1, 3)
    weight = 1

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['METAMON_KEY']}"

    @task(3)
    def search(self) -> None:
        self.client.get(
            "/api/v1/search/traces", params={"q": random.choice(SEARCHES)}, name="GET /api/v1/search/traces"
        )

    @task(1)
    def queue(self) -> None:
        self.client.get(
            "/api/v1/expert-review/queue", params={"reviewer": "load"}, name="GET /api/v1/expert-review/queue"
        )
