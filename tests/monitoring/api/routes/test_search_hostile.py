"""Search against the real Elasticsearch with hostile data: a million-character trace never fails a
search's highlighting, and a cursor of any other shape than the API's own is a 422."""

import base64
import json

import pytest

from metamon.monitoring.search.queries import HIGHLIGHT_MAX_ANALYZED_OFFSET


@pytest.fixture(scope="module")
def indexed(client_module, key_module, drain_module):
    headers = key_module("search-hostile")
    huge = "refund " + "filler words " * 80_000 + " needle"  # about a million characters
    traces = [
        {"id": "huge", "input": huge, "output": "see the policy"},
        {"id": "small", "input": "refund for a small order", "output": "30 days"},
    ]
    response = client_module.post("/api/v1/traces", json={"traces": traces}, headers=headers)
    assert response.status_code == 200, response.text
    assert len(huge) > 1_000_000 > HIGHLIGHT_MAX_ANALYZED_OFFSET
    drain_module()
    return headers


def search(client, headers, **params):
    return client.get("/api/v1/search/traces", params=params, headers=headers)


def test_a_million_character_input_never_fails_the_search(client_module, indexed):
    response = search(client_module, indexed, q="refund")
    assert response.status_code == 200, response.text
    items = {i["external_id"]: i for i in response.json()["items"]}
    assert set(items) == {"huge", "small"}
    assert "<mark>refund</mark>" in items["huge"]["highlights"]["input"][0]
    # A match beyond the analysed prefix is still found, only not highlighted.
    beyond = search(client_module, indexed, q="needle")
    assert beyond.status_code == 200, beyond.text
    (item,) = beyond.json()["items"]
    assert item["external_id"] == "huge" and "input" not in item["highlights"]


def forged(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


TRACE_ID = "6f1c1a9e-8a55-4c1e-9d3c-1f6a4b2c9e10"


@pytest.mark.parametrize(
    "payload",
    [
        {"after": [None, None]},
        {"after": [None, TRACE_ID]},
        {"after": [1, None]},
        {"after": [True, TRACE_ID]},
        {"after": ["NaN", TRACE_ID]},
        {"after": [1, "not-a-trace-id"]},
        {"after": [{"a": 1}, TRACE_ID]},
        {"after": [1, TRACE_ID, 5]},  # a point-in-time tiebreaker without its point in time
        {"after": [1, TRACE_ID], "pit": "abc"},  # a point in time without its tiebreaker
        {"after": [1, TRACE_ID, "x"], "pit": "abc"},
        {"after": []},
        {"after": "1"},
        [1, 2],
        None,
    ],
)
def test_a_cursor_of_any_other_shape_is_a_422(client_module, indexed, payload):
    for params in ({"q": "refund"}, {}, {"sort": "latency"}):
        response = search(client_module, indexed, cursor=forged(payload), **params)
        assert response.status_code == 422, (params, response.text)
        assert "cursor" in response.json()["detail"]
    evaluations = client_module.get(
        "/api/v1/search/evaluations", params={"cursor": forged(payload)}, headers=indexed
    )
    assert evaluations.status_code == 422


def test_cursors_the_api_writes_still_page(client_module, indexed):
    for params in ({"q": "refund"}, {}, {"sort": "latency", "order": "asc"}):  # latency missing: "Infinity"
        first = search(client_module, indexed, size=1, **params).json()
        second = search(client_module, indexed, size=1, cursor=first["next_cursor"], **params)
        assert second.status_code == 200, (params, second.text)
        assert second.json()["items"][0]["external_id"] != first["items"][0]["external_id"]
