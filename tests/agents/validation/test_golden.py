"""The shipped golden dataset is well formed, answerable and reproducible; project cases join it."""

import collections
import subprocess
import sys

import pytest

from metamon.agents.evaluation.evaluators.fact_accuracy import FactAccuracy
from metamon.agents.evaluation.evaluators.guardrails import Guardrails
from metamon.agents.validation.golden import SHIPPED, load_cases, shipped_cases
from metamon.monitoring.db.models import GoldenCase, Project
from tests.agents.evaluation.traces import trace
from tests.paths import CHECKOUT

DOMAINS = {"billing", "support", "medical", "legal", "product_docs", "hr_policy"}


def test_shipped_dataset_is_large_varied_and_well_formed():
    cases = shipped_cases()
    assert len(cases) >= 120
    assert len({c.case_key for c in cases}) == len(cases)
    per_domain = collections.Counter(next(t for t in c.tags if t in DOMAINS) for c in cases)
    assert set(per_domain) == DOMAINS and min(per_domain.values()) >= 20
    difficulty = collections.Counter(
        next(t for t in c.tags if t in ("easy", "medium", "hard")) for c in cases
    )
    assert set(difficulty) == {"easy", "medium", "hard"}
    features = collections.Counter(t for c in cases for t in c.tags if t.startswith(("has_", "pii_")))
    assert features["has_number"] >= 100 and features["has_date"] >= 15
    assert features["has_quote"] >= 15 and features["pii_in_context"] >= 3
    for case in cases:
        assert case.input.endswith("?") and case.reference["facts"] and case.reference["expected_answer"]
        assert len(case.retrieved_context) >= 3
        assert all(set(doc) == {"source_id", "content"} for doc in case.retrieved_context)
    assert len({c.input for c in cases}) == len(cases)
    assert all(c.app is None for c in cases)  # shipped cases serve any app


def test_every_case_is_answerable_from_its_context_and_its_expected_answer_is_clean():
    fact_accuracy, guardrails = FactAccuracy(), Guardrails()
    for case in shipped_cases():
        context = " ".join(doc["content"] for doc in case.retrieved_context)
        assert fact_accuracy.evaluate(trace(output=context, reference=case.reference)).score == 1.0, (
            case.case_key
        )
        expected = trace(output=case.reference["expected_answer"], reference=case.reference)
        assert fact_accuracy.evaluate(expected).passed, case.case_key
        assert guardrails.evaluate(expected).passed, case.case_key


def test_regenerating_the_dataset_reproduces_the_committed_file(tmp_path):
    out = tmp_path / "cases.jsonl"
    script = CHECKOUT / "tools" / "build_golden_cases.py"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == SHIPPED.read_bytes()


@pytest.fixture
def project(db):
    project = Project(slug="golden-test", name="Golden test")
    db.add(project)
    db.flush()
    return project


def _golden(project, key, app, tags, source="expert_label"):
    return GoldenCase(
        project_id=project.id,
        case_key=key,
        app=app,
        input=f"question of {key}?",
        retrieved_context=[{"source_id": "kb-1", "content": "Refunds take 30 days."}],
        reference={"expected_answer": "Refunds take 30 days.", "facts": []},
        tags=tags,
        source=source,
    )


def test_project_cases_join_the_shipped_ones_by_key_and_filter_by_app_and_tag(db, project):
    shipped_key = shipped_cases()[0].case_key
    db.add_all(
        [
            _golden(project, shipped_key, None, ["billing", "relabelled"]),
            _golden(project, "trace:t-1", "support-bot", ["billing"]),
            _golden(project, "trace:t-2", "other-app", ["billing"]),
            _golden(project, "trace:t-3", None, ["legal"]),
        ]
    )
    db.flush()
    n = len(shipped_cases())

    cases = load_cases(db, project.id, app="support-bot")
    keys = [c.case_key for c in cases]
    assert len(cases) == n + 2 and keys == sorted(keys)
    assert "trace:t-2" not in keys
    replaced = next(c for c in cases if c.case_key == shipped_key)
    assert replaced.source == "expert_label" and "relabelled" in replaced.tags

    everything = load_cases(db, project.id)
    assert len(everything) == n + 3

    legal = load_cases(db, project.id, app="support-bot", tags=["legal"])
    assert {c.case_key for c in legal} >= {"trace:t-3"}
    assert all("legal" in c.tags for c in legal)
    assert len(legal) == sum("legal" in c.tags for c in shipped_cases()) + 1

    own = load_cases(db, project.id, app="support-bot", include_shipped=False)
    assert [c.case_key for c in own] == sorted([shipped_key, "trace:t-1", "trace:t-3"])


def test_a_project_sees_only_its_own_cases(db, project):
    other = Project(slug="golden-other", name="Other")
    db.add(other)
    db.flush()
    db.add(_golden(other, "trace:theirs", None, ["billing"]))
    db.flush()
    assert "trace:theirs" not in {c.case_key for c in load_cases(db, project.id)}
