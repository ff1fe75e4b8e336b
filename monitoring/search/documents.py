"""The Elasticsearch document of a trace: its fields, spans, evaluator scores and review labels."""

from datetime import UTC, datetime

from metamon.monitoring.db.models import ReviewLabel, Span, Trace, TraceEvaluation

SPAN_TEXT_LIMIT = 10_000  # characters of a span's input/output kept for search


def _span_text(text: str | None, trace_text: str) -> str:
    # An OTLP root span's content is its trace's own: indexed once, the trace's field finds it.
    return "" if not text or text == trace_text else text[:SPAN_TEXT_LIMIT]


def trace_document(
    trace: Trace, spans: list[Span], evaluations: list[TraceEvaluation], labels: list[ReviewLabel]
) -> dict:
    context = trace.retrieved_context or []
    reference = trace.reference or {}
    return {
        "trace_id": str(trace.id),
        "project_id": str(trace.project_id),
        "external_id": trace.external_id,
        "timestamp": trace.timestamp.isoformat(),
        "app": trace.app,
        "model": trace.model,
        "prompt_version": trace.prompt_version,
        "domain": trace.domain,
        "session_id": trace.session_id,
        "user_id": trace.user_id,
        "status": trace.status,
        "error_type": trace.error_type,
        "error_message": trace.error_message,
        "input": trace.input,
        "output": trace.output,
        "context_text": [doc.get("content", "") for doc in context],
        "context_sources": [doc["source_id"] for doc in context if doc.get("source_id")],
        "reference_text": " ".join(
            [reference.get("expected_answer") or "", *[str(f) for f in reference.get("facts", [])]]
        ).strip(),
        "latency_seconds": trace.latency_seconds,
        "input_tokens": trace.input_tokens,
        "output_tokens": trace.output_tokens,
        "cost_usd": trace.cost_usd,
        "tags": trace.tags,
        "metadata": trace.metadata_,
        "guardrails_failed": [g.get("name") for g in trace.guardrails or [] if g.get("passed") is False],
        "spans": [
            {
                "span_id": span.span_id,
                "name": span.name,
                "kind": span.kind,
                "status": span.status,
                "input": _span_text(span.input, trace.input),
                "output": _span_text(span.output, trace.output),
            }
            for span in spans
        ],
        "span_count": len(spans),
        # Keyword, so a Lucene query (Grafana's trace explorer) can filter on it; evaluations is nested.
        "evaluators_failed": sorted({e.evaluator for e in evaluations if e.passed is False}),
        "scores": {e.evaluator: e.score for e in evaluations if e.score is not None},
        "evaluations": [
            {
                "evaluator": e.evaluator,
                "kind": e.kind,
                "score": e.score,
                "passed": e.passed,
                "reason": e.reason,
            }
            for e in evaluations
        ],
        "labels": sorted({label.label for label in labels}),
        "reviewers": sorted({label.reviewer for label in labels}),
        "issue_categories": sorted({c for label in labels for c in label.issue_categories}),
        "indexed_at": datetime.now(UTC).isoformat(),
    }
