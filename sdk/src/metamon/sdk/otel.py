"""Point an OpenTelemetry tracer provider at metamon's OTLP/HTTP endpoint (`POST /v1/traces`).

    from metamon.sdk.otel import send_to_metamon
    provider = send_to_metamon("http://metamon:8000", api_key, service_name="support-bot")

Spans following the OpenTelemetry GenAI conventions, OpenInference or OpenLLMetry are understood by
the server; the provider batches and exports them in the background, as OpenTelemetry always does.
"""

try:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
except ImportError as exc:  # the SDK's only hard dependency is httpx
    raise ImportError("metamon.sdk.otel needs OpenTelemetry: pip install 'metamon-sdk[otel]'") from exc


def send_to_metamon(
    url: str,
    api_key: str,
    *,
    service_name: str | None = None,
    provider: TracerProvider | None = None,
    set_global: bool = True,
    timeout: float = 10.0,
) -> TracerProvider:
    """Add a batching OTLP exporter to metamon to `provider` (a new one named `service_name` if None,
    made the global provider when `set_global`). The service name is the trace's app in metamon."""
    if provider is None:
        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name} if service_name else {})
        )
        if set_global:
            trace.set_tracer_provider(provider)
    exporter = OTLPSpanExporter(
        endpoint=url.rstrip("/") + "/v1/traces",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=timeout,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
