"""OTLP/HTTP bodies, protobuf or JSON, decoded into the collector's export requests.

Hostile bodies are a `OtlpError` (a 400), never an exception of the parser: JSON nested deeper than
orjson's 1,024 levels or AnyValues nested deeper than protobuf's 100 are refused outright.
"""

import base64
from typing import TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Where OTLP/JSON nests its items, per signal: (resource level, scope level, item level).
_JSON_LEVELS = {
    ExportTraceServiceRequest: ("resourceSpans", "scopeSpans", "spans"),
    ExportLogsServiceRequest: ("resourceLogs", "scopeLogs", "logRecords"),
}
_ID_KEYS = ("traceId", "spanId", "parentSpanId")
M = TypeVar("M", bound=Message)


class OtlpError(ValueError):
    """The body is not a valid OTLP export."""


def _dicts(value) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _hex_ids_to_base64(doc: dict, levels: tuple[str, str, str]) -> None:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64."""
    resource_key, scope_key, item_key = levels
    for rs in _dicts(doc.get(resource_key)):
        for ss in _dicts(rs.get(scope_key)):
            for item in _dicts(ss.get(item_key)):
                for key in _ID_KEYS:
                    if value := item.get(key):
                        try:
                            item[key] = base64.b64encode(bytes.fromhex(value)).decode()
                        except (TypeError, ValueError) as exc:
                            raise OtlpError(f"{key} {str(value)[:40]!r} is not hex") from exc


def decode(media_type: str, body: bytes, message_type: type[M]) -> M:
    request = message_type()
    try:
        if media_type == PROTOBUF:
            request.ParseFromString(body)
        else:
            doc = orjson.loads(body)
            if not isinstance(doc, dict):
                raise OtlpError(f"the JSON body must be an object with {_JSON_LEVELS[message_type][0]}")
            _hex_ids_to_base64(doc, _JSON_LEVELS[message_type])
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except OtlpError:
        raise
    except (DecodeError, orjson.JSONDecodeError, json_format.ParseError, RecursionError) as exc:
        raise OtlpError(f"not a valid OTLP export: {str(exc)[:300]}") from exc
    except (TypeError, ValueError, AttributeError) as exc:  # json_format on values of the wrong shape
        raise OtlpError(f"not a valid OTLP export: {type(exc).__name__}: {str(exc)[:300]}") from exc
    return request


def _text(s: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters.
    return s.replace("\x00", "") if "\x00" in s else s


def value(v: AnyValue):
    """An AnyValue as plain Python: str, bool, int, float, list, dict or None (bytes as base64)."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return _text(v.string_value)
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, kind) if kind else None


def attributes(kvs) -> dict:
    return {_text(kv.key): value(kv.value) for kv in kvs}
