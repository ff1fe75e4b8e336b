"""`POST /v1/traces`: OTLP/HTTP traces, protobuf or JSON, as OpenTelemetry SDK exporters send them."""

import zlib
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool

from metamon.monitoring.api.body import read_body
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.ingest.otlp import JSON, PROTOBUF, OtlpError, decode, spans_of
from metamon.monitoring.ingest.writer import ingest_spans

router = APIRouter(tags=["otlp"])


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


@router.post(
    "/v1/traces",
    responses={
        200: {"content": {PROTOBUF: {}, JSON: {}}, "description": "ExportTraceServiceResponse"},
        400: {"description": "Not a valid OTLP export"},
        413: {"description": "Too large"},
        415: {"description": "Neither protobuf nor JSON"},
    },
)
async def export_traces(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require_scope("ingest"))],
) -> Response:
    """OTLP/HTTP trace export. Send the API key as `Authorization: Bearer <key>`
    (`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<key>`)."""
    media_type, body = await read_body(request, (PROTOBUF, JSON), settings.ingest_max_body_bytes)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        body = _gunzip(body, settings.ingest_max_body_bytes)
    try:
        spans = spans_of(decode(media_type, body))
    except OtlpError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if spans:
        await run_in_threadpool(ingest_spans, session, settings, principal.project_id, spans)
    reply = ExportTraceServiceResponse()
    if media_type == PROTOBUF:
        return Response(reply.SerializeToString(), media_type=PROTOBUF)
    return Response(json_format.MessageToJson(reply), media_type=JSON)
