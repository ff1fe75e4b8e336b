"""Playbook choices for causes the end-to-end scenarios do not cover, on hand-built tables."""

from metamon.agents.research.dimensions import SizeBuckets
from metamon.agents.research.evidence import Evidence
from metamon.agents.research.metrics import get_metric
from metamon.agents.research.playbook import (
    AdjustGuardrailThreshold,
    AdjustRetrieval,
    ChangeRetrievalSource,
    InvestigateSegment,
    ScaleAndTimeout,
    recommend,
    root_cause_key,
)
from metamon.agents.research.segments import Segment, SegmentAnalysis
from metamon.monitoring.statistics.failures import Counts

NO_EVIDENCE = Evidence(trace_ids=[], reasons=[])


def segment(dimension, value, window, baseline, lift=3.0):
    return Segment(
        ((dimension, value),),
        Counts(*window),
        Counts(*baseline),
        0.6,
        reference="value_baseline",
        reference_rate=0.05,
        lift=lift,
        p_value=1e-9,
    )


def analysis_of(*segments):
    tables = {}
    for s in segments:
        tables.setdefault(s.dimension, []).append(s)
    sizes = SizeBuckets({"input_length": [200, 1000, 4000], "output_length": []})
    return SegmentAnalysis(get_metric("fact_accuracy"), Counts(1000, 200), Counts(5000, 250), tables, sizes)


def choose(metric, top, *others, evidence=NO_EVIDENCE, app="support-bot"):
    return recommend(
        get_metric(metric), top, analysis_of(top, *others), evidence, app=app, min_samples=30, sla_seconds=2.0
    )


def test_slow_segments_scale_out_and_time_out_at_the_sla():
    change = choose("latency", segment("domain", "legal", (300, 150), (1000, 50), lift=10.0))
    assert isinstance(change, ScaleAndTimeout)
    assert (change.timeout_seconds, change.scale_out_factor, change.segment) == (
        2.0,
        4.0,
        {"domain": "legal"},
    )
    assert (change.effort, change.risk) == ("medium", "low")


def test_guardrail_failures_point_at_the_rule_that_fails_most():
    evidence = Evidence(trace_ids=[], reasons=[], guardrail_rules=[{"rule": "refusal", "count": 80}])
    top = segment("domain", "medical", (200, 100), (900, 45))
    change = choose("guardrail_pass", top, evidence=evidence)
    assert isinstance(change, AdjustGuardrailThreshold)
    assert change.guardrail == "refusal" and change.risk == "high"
    assert change.title() == "Review the threshold of the refusal guardrail for support-bot (domain=medical)"


def test_a_failing_retrieval_source_is_replaced_by_the_best_of_the_baseline():
    top = segment("retrieval_source", "wiki-old", (300, 150), (1000, 60))
    good = segment("retrieval_source", "kb-2025", (300, 15), (1000, 30))
    worse = segment("retrieval_source", "kb-2024", (300, 30), (1000, 50))
    change = choose("fact_accuracy", top, good, worse)
    assert isinstance(change, ChangeRetrievalSource)
    assert (change.from_source, change.to_source) == ("wiki-old", "kb-2025")


def test_a_lone_retrieval_source_gets_more_context_and_costly_long_inputs_get_less():
    top = segment("retrieval_source", "kb", (300, 150), (1000, 60))
    change = choose("fact_accuracy", top, evidence=Evidence([], [], top_k=3))
    assert isinstance(change, AdjustRetrieval)
    assert (change.top_k_from, change.top_k_to, change.chunk_long_inputs) == (3, 6, False)

    long_inputs = segment("input_length", ">=4000", (300, 150), (1000, 60))
    change = choose("cost", long_inputs, evidence=Evidence([], [], top_k=8))
    assert (change.top_k_from, change.top_k_to, change.chunk_long_inputs) == (8, 4, False)
    assert change.title() == "Lower top_k from 8 to 4 for support-bot (input_length=>=4000)"


def test_without_an_earlier_version_the_segment_is_handed_over_for_investigation():
    change = choose("fact_accuracy", segment("prompt_version", "v1", (300, 150), (0, 0)))
    assert isinstance(change, InvestigateSegment)
    assert change.model_dump() == {
        "app": "support-bot",
        "type": "investigate_segment",
        "segment": {"prompt_version": "v1"},
        "metric": "fact_accuracy",
    }


def test_root_cause_keys_name_metric_scope_and_cause():
    metric = get_metric("latency")
    assert root_cause_key(metric, "bot", segment("model", "m1", (1, 1), (1, 1))) == "latency|app=bot|model=m1"
    assert root_cause_key(metric, None, segment("app", "bot", (1, 1), (1, 1))) == "latency|app=bot"
    assert root_cause_key(metric, None, segment("domain", "legal", (1, 1), (1, 1))) == "latency|domain=legal"
