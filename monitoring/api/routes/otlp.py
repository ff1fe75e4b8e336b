"""`POST /v1/traces` and `POST /v1/logs`: OTLP/HTTP, protobuf or JSON, as OpenTelemetry SDK exporters and
the Collector send them.

As the OTLP/HTTP specification asks: usable spans are stored and the rest reported in
`partial_success`; errors are `google.rpc.Status` bodies (protobuf for protobuf requests, JSON for
JSON); 429 and 503 carry `Retry-After`, which SDK exporters and the Collector honour.
"""

import zlib
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool

from metamon.monitoring.api.body import read_body
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.schemas.otlp import ExportLogsResponse, ExportTracesResponse
from metamon.monitoring.ingest.otlp.decoding import JSON, PROTOBUF, OtlpError, decode
from metamon.monitoring.ingest.otlp.mapping import contents_of, spans_of
from metamon.monitoring.ingest.otlp.writing import ingest_content, ingest_spans

# Writes one API process runs at once (below its database pool of 10, leaving room for the other
# routes); past it an export is refused at once with 429 and Retry-After rather than queued.
MAX_WRITES_IN_FLIGHT = 8
RETRY_AFTER_SATURATED = "1"
RETRY_AFTER_UNAVAILABLE = "5"
# Reasons listed in a partial_success message (the count is always complete).
MAX_REASONS = 5
_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    422: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}
_DATABASE_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
)
_UNSTORABLE = (sa_exc.DataError, psycopg.DataError)


def _wants_protobuf(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == PROTOBUF


def status_response(request: Request, code: int, message: str, headers: dict | None = None) -> Response:
    body = status_pb2.Status(code=_GRPC_CODES.get(code, code_pb2.UNKNOWN), message=message)
    if _wants_protobuf(request):
        return Response(body.SerializeToString(), code, headers, media_type=PROTOBUF)
    return Response(json_format.MessageToJson(body, indent=None), code, headers, media_type=JSON)


class OtlpRoute(APIRoute):
    """Every failure of an OTLP route, the key's included, as a Status body in the request's encoding."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                return status_response(request, exc.status_code, str(exc.detail), exc.headers)
            except _DATABASE_DOWN:
                return status_response(
                    request,
                    503,
                    "the database is unavailable; retry later",
                    {"Retry-After": RETRY_AFTER_UNAVAILABLE},
                )
            except _UNSTORABLE as exc:  # rolled back whole: nothing was written
                cause = str(getattr(exc, "orig", None) or exc).splitlines()[:1] or ["invalid value"]
                return status_response(request, 400, f"a value cannot be stored: {cause[0]}")

        return route


router = APIRouter(tags=["otlp"], route_class=OtlpRoute)
_in_flight = 0


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Decompress with a cap on the output, so a small gzip bomb cannot exhaust memory."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not valid gzip: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"decompressed body exceeds {max_bytes} bytes")
    return out


async def _export(request: Request, settings, message_type, extract):
    """Read, decompress, decode and map a body: (media type, usable items, rejection reasons)."""
    media_type, body = await read_body(request, (PROTOBUF, JSON), settings.ingest.max_body_bytes)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        body = _gunzip(body, settings.ingest.max_body_bytes)
    try:  # on the thread pool: mapping is Python work the event loop must not wait for
        items, rejected = await run_in_threadpool(lambda: extract(decode(media_type, body, message_type)))
    except OtlpError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return media_type, items, rejected


def _reasons(rejected: list[str]) -> str:
    more = f" (and {len(rejected) - MAX_REASONS} more)" if len(rejected) > MAX_REASONS else ""
    return "; ".join(rejected[:MAX_REASONS]) + more


async def _write(write, *args) -> None:
    global _in_flight
    if _in_flight >= MAX_WRITES_IN_FLIGHT:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "ingest is saturated; retry later",
            headers={"Retry-After": RETRY_AFTER_SATURATED},
        )
    _in_flight += 1
    try:
        return await run_in_threadpool(write, *args)
    finally:
        _in_flight -= 1


def _reply(media_type: str, reply) -> Response:
    if media_type == PROTOBUF:
        return Response(reply.SerializeToString(), media_type=PROTOBUF)
    return Response(json_format.MessageToJson(reply, indent=None), media_type=JSON)


_FAILURES = {
    400: {"description": "Not a valid OTLP export (a google.rpc.Status body)"},
    413: {"description": "Too large"},
    415: {"description": "Neither protobuf nor JSON"},
    429: {"description": "Saturated; retry after Retry-After seconds"},
    503: {"description": "The database is unavailable; retry after Retry-After seconds"},
}
IngestKey = Annotated[Principal, Depends(require_scope("ingest"))]


def _responses(model) -> dict:
    """The export response (its JSON shape as the model, the same message in protobuf) and the failures."""
    ok = {"model": model, "content": {PROTOBUF: {}}, "description": "Export response, with partial_success"}
    return {200: ok, **_FAILURES}


@router.post("/v1/traces", response_class=Response, responses=_responses(ExportTracesResponse))
async def export_traces(
    request: Request, session: SessionDep, settings: SettingsDep, principal: IngestKey
) -> Response:
    """OTLP/HTTP trace export. Send the API key as `Authorization: Bearer <key>`
    (`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<key>`)."""
    media_type, spans, rejected = await _export(request, settings, ExportTraceServiceRequest, spans_of)
    if spans:
        outcome = await _write(ingest_spans, session, settings, principal.project_id, spans)
        rejected, spans = rejected + outcome.rejected, outcome.trace_ids
    if rejected and not spans:  # not one span usable: the export itself is bad
        raise HTTPException(status.HTTP_400_BAD_REQUEST, _reasons(rejected))
    reply = ExportTraceServiceResponse()
    if rejected:
        reply.partial_success.rejected_spans = len(rejected)
        reply.partial_success.error_message = _reasons(rejected)
    return _reply(media_type, reply)


@router.post("/v1/logs", response_class=Response, responses=_responses(ExportLogsResponse))
async def export_logs(
    request: Request, session: SessionDep, settings: SettingsDep, principal: IngestKey
) -> Response:
    """OTLP/HTTP log export: GenAI content events (`gen_ai.client.inference.operation.details`, and the
    older `gen_ai.user.message`, `gen_ai.system.message`, `gen_ai.choice`) are joined to their span by
    trace and span id, before or after the span arrives. Other log records are accepted and ignored."""
    media_type, contents, rejected = await _export(request, settings, ExportLogsServiceRequest, contents_of)
    if contents:
        await _write(ingest_content, session, settings, principal.project_id, contents)
    reply = ExportLogsServiceResponse()
    if rejected:
        reply.partial_success.rejected_log_records = len(rejected)
        reply.partial_success.error_message = _reasons(rejected)
    return _reply(media_type, reply)
