"""loadtests/bench_efficacy.py: how it judges a proposal (pure), and two of its scenarios end to end through
the real API, exporter, worker, Prometheus and Alertmanager (fast profile) on a database of their own."""

import sys
from datetime import UTC, datetime, timedelta

import pytest

from metamon.monitoring.db.session import session_scope
from metamon.monitoring.keys import create_key
from tests.paths import CHECKOUT

sys.path.insert(0, str(CHECKOUT / "loadtests"))
import bench_efficacy as bench  # noqa: E402


def proposal(dimension: str, value: str, proposal_type: str = "switch_model", **extra) -> dict:
    return {"proposal_type": proposal_type, "root_cause": {"dimension": dimension, "value": value}, **extra}


@pytest.mark.parametrize(
    ("scenario", "dimension", "value"),
    [
        ("prompt-version", "prompt_version", "v4"),
        ("document", "retrieval_source", "help-center/doc-17"),
        ("document", "retrieval_sources", "help-center/doc-17"),
        ("tag", "tag", "locale:de-DE"),
        ("tag", "tag:locale", "de-DE"),
        ("metadata", "metadata.customer_tier", "free"),
        ("metadata", "customer_tier", "free"),
        ("pii-leak", "tool", "crm_lookup"),
        ("long-inputs", "input_length", ">=440"),
        ("long-inputs", "input_size", ">2.5k"),
        ("pair", "model+domain", "gpt-4o-mini+travel"),
        ("pair", "domain & model", "travel & gpt-4o-mini"),
    ],
)
def test_a_root_cause_in_any_of_its_spellings_hits(scenario, dimension, value):
    assert bench.is_hit(proposal(dimension, value), bench.BY_NAME[scenario])


@pytest.mark.parametrize(
    ("scenario", "dimension", "value"),
    [
        ("prompt-version", "prompt_version", "v3"),  # the innocent prompt serving the whole window
        ("pair", "domain", "travel"),  # one half of the pair
        ("source", "retrieval_source", "policies/doc-3"),
        ("long-inputs", "input_length", "<200"),
        ("long-inputs", "input_length", "200-1k"),
        ("long-inputs", "input_length", ">=200"),  # a tail that mixes in healthy inputs
        ("long-inputs", "input_length", "460-1300"),  # part of the tail: longer inputs fail as well
        ("long-inputs", "input_length", "1k-4k"),
    ],
)
def test_a_wrong_or_partial_root_cause_misses(scenario, dimension, value):
    assert not bench.is_hit(proposal(dimension, value), bench.BY_NAME[scenario])


def test_a_pair_listed_as_parts_hits():
    parts = {
        "proposal_type": "switch_model",
        "root_cause": {"segment": {"model": "gpt-4o-mini", "domain": "travel"}},
    }
    listed = {
        "proposal_type": "switch_model",
        "root_cause": {
            "conditions": [
                {"dimension": "model", "value": "gpt-4o-mini"},
                {"dimension": "domain", "value": "travel"},
            ]
        },
    }
    assert bench.is_hit(parts, bench.BY_NAME["pair"]) and bench.is_hit(listed, bench.BY_NAME["pair"])


def test_confidence_as_stated_and_abstention():
    assert bench.confidence(proposal("model", "x")) == ("-", True)  # a typed change stating no doubt
    assert bench.confidence(proposal("model", "x", confidence=0.31)) == ("0.31", False)
    assert bench.confidence(proposal("model", "x", confidence=0.8)) == ("0.80", True)
    assert bench.confidence(proposal("model", "x", confidence={"level": "high"}, provisional=True)) == (
        "high",
        False,
    )
    abstained = proposal("prompt_version", "v4", "investigate", confidence="low")
    assert bench.confidence(abstained) == ("low", False)
    assert not bench.is_hit(abstained, bench.BY_NAME["prompt-version"])


def test_the_fault_hits_only_matching_traces_after_its_onset():
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    history, hour = bench.traffic(bench.BY_NAME["document"], now, seed=3)
    onset = now - timedelta(minutes=bench.BY_NAME["document"].onset_minutes)

    def wrong(t: dict) -> bool:
        return t["reference"]["facts"][0] not in t["output"]

    def has_doc(t: dict) -> bool:
        return any(d["source_id"] == "help-center/doc-17" for d in t["retrieved_context"])

    late = [t for t in hour if datetime.fromisoformat(t["timestamp"]) >= onset]
    assert len(history) == bench.HISTORY_TRACES and len(hour) == bench.BY_NAME["document"].live_traces
    assert all(t["retrieved_context"][0]["source_id"] != "help-center/doc-17" for t in history + hour)
    faulty = [wrong(t) for t in late if has_doc(t)]
    healthy = [wrong(t) for t in history + late if not has_doc(t)]
    assert sum(faulty) / len(faulty) > 0.7 and sum(healthy) / len(healthy) < 0.1
    assert {t["prompt_version"] for t in hour} == {"v3"} and "v2" in {t["prompt_version"] for t in history}


def test_waiting_ends_on_a_hit_or_a_typed_change_that_is_not_provisional():
    canary = bench.BY_NAME["canary"]

    def settled(*proposals: dict) -> bool:
        made = [p | {"created_at": f"2026-12-02T12:00:0{i}"} for i, p in enumerate(proposals)]
        return bench.Result(canary, "p", proposals=made).settled()

    assert not settled()
    assert not settled(proposal("prompt_version", "v3", "investigate"))  # an abstention may be revised
    assert not settled(proposal("prompt_version", "v3", "rollback_prompt_version", provisional=True))
    assert settled(proposal("prompt_version", "v4", "rollback_prompt_version", provisional=True))
    assert settled(proposal("model", "claude-3", "switch_model", provisional=False))  # final, and wrong


def test_live_traffic_keeps_the_fault_on_and_is_stamped_as_sent():
    now = datetime.now(UTC)
    live = bench.Live(bench.BY_NAME["latency"], now, seed=2)
    live.started -= 50  # 50 s of traffic at 4 a second
    traces = live.due()
    assert 200 <= len(traces) == live.sent <= 204
    assert all(datetime.fromisoformat(t["timestamp"]) >= now for t in traces)
    slow = [t["latency_seconds"] >= 4 for t in traces if t["model"] == "claude-3"]
    assert sum(slow) / len(slow) > 0.75
    assert not any(t["latency_seconds"] >= 4 for t in traces if t["model"] != "claude-3")
    ids = {t["id"] for t in traces}
    assert len(ids) == len(traces) and f"t-{bench.HISTORY_TRACES + 600}" in ids


@pytest.mark.timeout(240)
def test_a_fault_scenario_and_the_null_scenario_end_to_end(settings, private_database_url):
    def make_key(project: str) -> str:  # in process: `metamon keys create` takes seconds on a busy machine
        with session_scope(private_database_url) as session:
            return create_key(session, project, ["ingest", "read", "admin"], name="efficacy")[1]

    with bench.own_loop(settings, private_database_url) as loop:
        loop.make_key = make_key
        scenarios = [bench.BY_NAME["prompt-version"], bench.BY_NAME["null"]]
        results = bench.run(loop, scenarios, timeout=90, quiet=20)
    fault, null = (r.row() for r in results)
    assert fault["alert"] == "MetamonFactAccuracyLow" and fault["alert_seconds"] is not None, fault
    assert fault["top_root_cause"] == "prompt_version=v4" and fault["hit"] and fault["wrong_confident"] == 0
    assert null["alert"] is None and null["proposals"] == 0 and null["hit"], null
    assert bench.summary([fault, null]) == {
        "hits": 1,
        "fault_scenarios": 1,
        "null_clean": True,
        "wrong_confident": 0,
    }
