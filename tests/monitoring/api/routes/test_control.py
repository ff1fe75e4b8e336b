"""`POST /api/v1/control/evaluate`: scores the caller's project now and returns the runs it wrote."""

from datetime import UTC, datetime, timedelta


def recent(i: int, output: str = "Refunds take 30 days.", **kw) -> dict:
    return {
        "id": f"c-{i}",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "app": "support-bot",
        "model": "gpt-4o",
        "output": output,
        "reference": {"facts": ["30 days"]},
        "latency_seconds": 0.5,
        **kw,
    }


def test_evaluate_scores_the_project_and_pins_a_baseline(client, make_key):
    headers = make_key("control-1", scopes=("ingest", "read", "admin"))
    batch = [recent(1), recent(2), recent(3, output="Refunds take 10 days."), recent(4, app="search")]
    assert client.post("/api/v1/traces", json={"traces": batch}, headers=headers).status_code == 200
    response = client.post("/api/v1/control/evaluate", json={"pin_baseline": True}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scored"] == 4
    app_wide = {r["app"]: r for r in body["runs"] if r["model"] is None}
    assert set(app_wide) == {"support-bot", "search"}
    assert app_wide["support-bot"]["metrics"]["fact_accuracy"] == 2 / 3
    assert app_wide["support-bot"]["is_baseline"] and all(
        not r["is_baseline"] for r in body["runs"] if r["model"] is not None
    )
    # Only this project's traces: another project's unscored traces stay unscored.
    other = make_key("control-2", scopes=("ingest", "admin"))
    client.post("/api/v1/traces", json={"traces": [recent(9)]}, headers=other)
    assert client.post("/api/v1/control/evaluate", json={}, headers=headers).json()["scored"] == 0
    assert client.post("/api/v1/control/evaluate", json={}, headers=other).json()["scored"] == 1


def test_evaluate_needs_admin_and_valid_bounds(client, make_key):
    reader = make_key("control-3", scopes=("read",))
    assert client.post("/api/v1/control/evaluate", json={}, headers=reader).status_code == 403
    admin = make_key("control-3", scopes=("admin",))
    assert client.post("/api/v1/control/evaluate", json={"max_traces": 0}, headers=admin).status_code == 422
    assert (
        client.post("/api/v1/control/evaluate", json={"window_minutes": -5}, headers=admin).status_code == 422
    )
