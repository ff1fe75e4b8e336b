"""The expert review API on the real PostgreSQL and Elasticsearch."""

import pytest
from sqlalchemy import select

from metamon.monitoring.db.models import Project, ReviewLabel, TraceEvaluation
from metamon.monitoring.db.session import session_scope

SCORES = {"t-fail": 0.1, "t-border": 0.55, "t-good": 0.95, "t-disagree": 0.9, "t-agreed": 0.9}


@pytest.fixture(scope="module")
def review(client_module, key_module, database_url):
    headers = key_module("rev", ("ingest", "read", "review"))
    traces = [
        {"id": key, "input": f"q {key}", "output": f"a {key}"} for key in [*SCORES, "t-plain-1", "t-plain-2"]
    ]
    resp = client_module.post("/api/v1/traces", json={"traces": traces}, headers=headers)
    ids = {t["id"]: t["trace_id"] for t in resp.json()["traces"]}
    with session_scope(database_url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == "rev"))
        for key, score in SCORES.items():
            session.add(
                TraceEvaluation(
                    trace_id=ids[key],
                    project_id=project_id,
                    evaluator="fact_accuracy",
                    kind="code",
                    score=score,
                    passed=score >= 0.5,
                    reason="",
                )
            )
    for key, reviewer, label in [
        ("t-disagree", "ann", "pass"),
        ("t-disagree", "bob", "fail"),
        ("t-agreed", "ann", "pass"),
        ("t-agreed", "bob", "pass"),
    ]:
        body = {"trace_id": ids[key], "reviewer": reviewer, "label": label}
        assert (
            client_module.post("/api/v1/expert-review/label", json=body, headers=headers).status_code == 200
        )
    return headers, ids


def queue(client, headers, reviewer, **params):
    resp = client.get("/api/v1/expert-review/queue", params={"reviewer": reviewer, **params}, headers=headers)
    assert resp.status_code == 200, resp.text
    return [item["external_id"] for item in resp.json()["items"]]


def test_queue_puts_borderline_and_failing_first_then_disagreement_then_a_sample(client_module, review):
    headers, _ = review
    order = queue(client_module, headers, "carol")
    assert order[:3] == ["t-border", "t-fail", "t-disagree"]
    assert set(order[3:]) == {"t-good", "t-plain-1", "t-plain-2"}
    assert "t-agreed" not in order  # labelled and agreed: nothing to learn
    # ann labelled t-disagree herself: never shown it again
    assert "t-disagree" not in queue(client_module, headers, "ann")


def test_labelling_replaces_the_reviewers_label_and_reaches_the_index(
    client_module, review, drain, database_url
):
    headers, ids = review
    for label in ("needs_review", "fail"):
        resp = client_module.post(
            "/api/v1/expert-review/label",
            headers=headers,
            json={
                "trace_id": ids["t-border"],
                "reviewer": "carol",
                "label": label,
                "confidence": 0.8,
                "notes": "number wrong",
                "issue_categories": ["accuracy", "accuracy", "units"],
            },
        )
        assert resp.status_code == 200, resp.text
    assert resp.json()["label"] == "fail" and resp.json()["issue_categories"] == ["accuracy", "units"]
    with session_scope(database_url) as session:
        labels = session.scalars(select(ReviewLabel).where(ReviewLabel.trace_id == ids["t-border"])).all()
    assert [(lbl.reviewer, lbl.label) for lbl in labels] == [("carol", "fail")]
    assert "t-border" not in queue(client_module, headers, "carol")

    drain()
    found = client_module.get("/api/v1/search/traces", params={"label": "fail"}, headers=headers).json()
    assert "t-border" in [item["external_id"] for item in found["items"]]


def test_labels_are_validated_and_confined_to_the_project(client_module, review, key_module):
    headers, ids = review
    bad = [
        {"trace_id": ids["t-good"], "reviewer": "x", "label": "maybe"},
        {"trace_id": ids["t-good"], "reviewer": "x", "label": "pass", "confidence": 1.5},
        {"trace_id": "not-a-uuid", "reviewer": "x", "label": "pass"},
        {"trace_id": ids["t-good"], "reviewer": "", "label": "pass"},
    ]
    for body in bad:
        assert (
            client_module.post("/api/v1/expert-review/label", json=body, headers=headers).status_code == 422
        )
    hostile = key_module("rev-other", ("review",))
    resp = client_module.post(
        "/api/v1/expert-review/label",
        headers=hostile,
        json={"trace_id": ids["t-good"], "reviewer": "mallory", "label": "fail"},
    )
    assert resp.status_code == 404
    assert (
        client_module.get("/api/v1/expert-review/queue", params={"reviewer": "m"}, headers=hostile).json()[
            "items"
        ]
        == []
    )
    read_only = key_module("rev", ("read",))
    assert client_module.get("/api/v1/expert-review/stats", headers=read_only).status_code == 403


def test_stats_count_labels_and_measure_agreement(client_module, review):
    headers, ids = review
    for key, ann, bob in [("t-plain-1", "fail", "fail"), ("t-plain-2", "fail", "fail")]:
        for reviewer, label in (("ann", ann), ("bob", bob)):
            client_module.post(
                "/api/v1/expert-review/label",
                headers=headers,
                json={"trace_id": ids[key], "reviewer": reviewer, "label": label},
            )
    stats = client_module.get("/api/v1/expert-review/stats", headers=headers).json()
    pair = next(a for a in stats["agreement"] if a["reviewers"] == ["ann", "bob"])
    # ann: pass pass fail fail, bob: fail pass fail fail -> kappa 0.5
    assert pair["shared_traces"] == 4 and pair["kappa"] == 0.5 and pair["raw_agreement"] == 0.75
    assert stats["by_reviewer"]["ann"] == {"pass": 2, "fail": 2}
    labeled = client_module.get(
        "/api/v1/expert-review/labeled", params={"reviewer": "bob", "label": "fail"}, headers=headers
    ).json()
    assert labeled["total"] == 3
    assert {i["trace"]["external_id"] for i in labeled["items"]} == {"t-disagree", "t-plain-1", "t-plain-2"}


def test_a_labelled_trace_is_promoted_into_the_golden_dataset(client_module, review):
    headers, ids = review
    first = client_module.post(
        "/api/v1/expert-review/golden",
        headers=headers,
        json={"trace_id": ids["t-agreed"], "actor": "ann", "tags": ["refunds"]},
    )
    assert first.status_code == 200, first.text
    assert first.json()["reference"] == {"expected_answer": "a t-agreed", "facts": []}
    again = client_module.post(
        "/api/v1/expert-review/golden",
        headers=headers,
        json={"trace_id": ids["t-agreed"], "actor": "ann", "facts": ["30 days"]},
    )
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["reference"]["facts"] == ["30 days"]
    unlabelled = client_module.post(
        "/api/v1/expert-review/golden", headers=headers, json={"trace_id": ids["t-good"], "actor": "ann"}
    )
    assert unlabelled.status_code == 409
