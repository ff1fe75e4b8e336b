"""OTLP/HTTP export responses in their JSON encoding (the protobuf one carries the same fields), as the
OpenTelemetry protocol defines them: 64-bit counts are JSON strings, and an empty response is `{}`."""

from pydantic import BaseModel, Field


class TracesPartialSuccess(BaseModel):
    rejectedSpans: str | None = Field(None, description="Spans not stored (an int64, as a string).")
    errorMessage: str | None = None


class ExportTracesResponse(BaseModel):
    partialSuccess: TracesPartialSuccess | None = None


class LogsPartialSuccess(BaseModel):
    rejectedLogRecords: str | None = Field(None, description="Log records not used (an int64, as a string).")
    errorMessage: str | None = None


class ExportLogsResponse(BaseModel):
    partialSuccess: LogsPartialSuccess | None = None
