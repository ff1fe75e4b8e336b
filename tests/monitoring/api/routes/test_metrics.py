"""`GET /api/v1/metrics/latest` and `/trends` read the evaluation runs of the caller's project."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from monitoring.db.models import EvaluationRun, Project
from monitoring.db.session import session_scope


def add_runs(database_url: str, slug: str) -> None:
    """Six hourly app-wide runs of support-bot (fact accuracy 0.90 .. 0.95) and one per-model run."""
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == slug))
        for hours in range(6):
            end = now - timedelta(hours=hours)
            session.add(
                EvaluationRun(
                    project_id=project_id,
                    app="support-bot",
                    window_start=end - timedelta(hours=1),
                    window_end=end,
                    trace_count=10,
                    fact_accuracy=0.95 - hours * 0.01,
                    delta_previous={"fact_accuracy": 0.01},
                )
            )
        session.add(
            EvaluationRun(
                project_id=project_id,
                app="support-bot",
                model="gpt-4o",
                domain="billing",
                window_start=now - timedelta(hours=1),
                window_end=now,
                trace_count=4,
                fact_accuracy=0.5,
            )
        )


def test_latest_is_the_newest_run_per_scope(client, make_key, database_url):
    headers = make_key("metrics-1", scopes=("read",))
    add_runs(database_url, "metrics-1")
    items = client.get("/api/v1/metrics/latest", headers=headers).json()["items"]
    assert [(i["app"], i["model"], i["metrics"]["fact_accuracy"]) for i in items] == [
        ("support-bot", None, 0.95)
    ]
    assert items[0]["delta_previous"] == {"fact_accuracy": 0.01}
    detailed = client.get("/api/v1/metrics/latest?breakdown=true", headers=headers).json()["items"]
    assert {(i["model"], i["metrics"]["fact_accuracy"]) for i in detailed} == {(None, 0.95), ("gpt-4o", 0.5)}
    # Another project sees none of it.
    other = make_key("metrics-2", scopes=("read",))
    assert client.get("/api/v1/metrics/latest", headers=other).json()["items"] == []


def test_trends_bucket_the_app_wide_runs(client, make_key, database_url):
    headers = make_key("metrics-3", scopes=("read",))
    add_runs(database_url, "metrics-3")
    body = client.get(
        "/api/v1/metrics/trends?metric=fact_accuracy&timeframe=24h&bucket=1h", headers=headers
    ).json()
    (series,) = body["series"]
    assert series["app"] == "support-bot" and len(series["points"]) == 6
    values = sorted(round(p["value"], 4) for p in series["points"])
    assert values == [0.9, 0.91, 0.92, 0.93, 0.94, 0.95]
    assert all(p["traces"] == 10 for p in series["points"])
    day = client.get("/api/v1/metrics/trends?timeframe=7d&bucket=1d", headers=headers).json()["series"][0]
    assert sum(p["traces"] for p in day["points"]) == 60


def test_trends_refuse_bad_timeframes_and_metrics(client, make_key):
    headers = make_key("metrics-4", scopes=("read",))
    for query in (
        "timeframe=7x",
        "bucket=0m",
        "timeframe=1h&bucket=1d",  # bucket wider than the timeframe
        "timeframe=366d&bucket=1m",  # too many points
        "metric=drop_table",
    ):
        response = client.get(f"/api/v1/metrics/trends?{query}", headers=headers)
        assert response.status_code == 422, query
