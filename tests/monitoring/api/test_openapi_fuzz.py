"""Schemathesis drives every operation of the OpenAPI schema with generated input: whatever arrives,
the API answers with a documented status and never a 5xx."""

import json

import hypothesis
import pytest
import schemathesis
from schemathesis import checks

from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.api.main import create_app


@pytest.fixture(scope="module")
def operations(settings):
    app = create_app()
    app.dependency_overrides[current_settings] = lambda: settings
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    return {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


def test_every_operation_is_fuzzed(operations):
    assert set(LABELS) == set(operations) and len(LABELS) >= 30
    assert "POST /api/v1/traces" in operations
    assert "GET /api/v1/search/traces" in operations
    assert "POST /v1/traces" in operations


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        return {node["$ref"]} if "$ref" in node else set().union(*map(_refs, node.values()))
    if isinstance(node, list):
        return set().union(*map(_refs, node))
    return set()


def test_the_schema_has_no_dangling_reference():
    """The traces request body names its nested models (ContextDocument, SpanIn...): each reference
    resolves, so the fuzzer generates every part of the body."""
    document = create_app().openapi()
    refs = _refs(document)
    assert "#/components/schemas/ContextDocument" in refs and "#/components/schemas/TraceIn" in refs
    for ref in refs:
        node = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]  # a KeyError names the dangling reference
    assert "$defs" not in json.dumps(document)


# Every operation the app serves, read from its own schema: a new route is fuzzed without listing it.
LABELS = sorted(
    f"{method.upper()} {path}" for path, ops in create_app().openapi()["paths"].items() for method in ops
)


@pytest.mark.parametrize("label", LABELS)
def test_no_operation_answers_with_a_server_error(operations, key_module, label):
    headers = key_module("fuzz", ("ingest", "read", "review", "admin"))

    @hypothesis.given(case=operations[label].as_strategy())
    @hypothesis.settings(
        max_examples=25, deadline=None, suppress_health_check=list(hypothesis.HealthCheck), database=None
    )
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[checks.not_a_server_error])

    run()


def test_every_operation_declares_its_response():
    """Each operation's success answer has a JSON schema (a response model), so clients and the fuzzer
    know its shape; OTLP's is the JSON encoding of its protobuf reply."""
    document = create_app().openapi()
    undeclared = [
        f"{method.upper()} {path}"
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if not any(
            "schema" in op["responses"].get(code, {}).get("content", {}).get("application/json", {})
            for code in ("200", "201", "202")
        )
    ]
    assert undeclared == []
