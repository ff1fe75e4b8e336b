"""Schemathesis drives every operation of the OpenAPI schema with generated input: whatever arrives,
the API answers with a documented status and never a 5xx."""

import hypothesis
import pytest
import schemathesis
from schemathesis import checks

from monitoring.api.main import create_app
from monitoring.settings import get_settings


@pytest.fixture(scope="module")
def operations(settings):
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    return {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


def test_every_operation_is_fuzzed(operations):
    assert "POST /api/v1/traces" in operations
    assert "GET /api/v1/search/traces" in operations
    assert "POST /v1/traces" in operations


@pytest.mark.parametrize(
    "label",
    [
        "GET /api/v1/health",
        "GET /api/v1/projects/current",
        "POST /api/v1/traces",
        "POST /v1/traces",
        "GET /api/v1/search/traces",
        "GET /api/v1/search/evaluations",
        "GET /api/v1/search/aggregations",
        "GET /api/v1/expert-review/queue",
        "POST /api/v1/expert-review/label",
        "GET /api/v1/expert-review/labeled",
        "GET /api/v1/expert-review/stats",
        "POST /api/v1/expert-review/golden",
    ],
)
def test_no_operation_answers_with_a_server_error(operations, key_module, label):
    headers = key_module("fuzz", ("ingest", "read", "review"))

    @hypothesis.given(case=operations[label].as_strategy())
    @hypothesis.settings(
        max_examples=25, deadline=None, suppress_health_check=list(hypothesis.HealthCheck), database=None
    )
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[checks.not_a_server_error])

    run()
