"""`GET /api/v1/metrics/latest` and `/trends` read the evaluation runs of the caller's project."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from metamon.monitoring.db.models import EvaluationRun, Project
from metamon.monitoring.db.session import session_scope


def add_runs(database_url: str, slug: str) -> None:
    """Six hourly app-wide runs of support-bot (fact accuracy 0.90 .. 0.95), one per-model run and one
    daily run (0.80)."""
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
        session.add(
            EvaluationRun(
                project_id=project_id,
                app="support-bot",
                window_start=now - timedelta(days=1, minutes=1),
                window_end=now - timedelta(minutes=1),
                trace_count=60,
                fact_accuracy=0.8,
                trigger="daily",
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
    # A wider bucket holds the newest run ending in it, never a sum of overlapping windows.
    day = client.get("/api/v1/metrics/trends?timeframe=7d&bucket=1d", headers=headers).json()["series"][0]
    assert all(p["traces"] == 10 for p in day["points"]) and len(day["points"]) <= 2
    assert day["points"][-1]["value"] == pytest.approx(0.95)
    # Runs of another window length are their own series.
    daily = client.get("/api/v1/metrics/trends?timeframe=7d&bucket=1d&window=1d", headers=headers).json()
    assert [p["value"] for p in daily["series"][0]["points"]] == [pytest.approx(0.8)]
    latest_daily = client.get("/api/v1/metrics/latest?window=1d", headers=headers).json()["items"]
    assert [i["metrics"]["fact_accuracy"] for i in latest_daily] == [pytest.approx(0.8)]


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
