"""`POST /api/v1/traces`: a batch of traces, stored all-or-nothing and queued for indexing; `GET` one."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from metamon.monitoring.api.body import documented_json_body, read_body
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.schemas.traces import TraceDocument
from metamon.monitoring.db.models import Trace
from metamon.monitoring.ingest.schemas import IngestedTrace, IngestResult, TraceBatch
from metamon.monitoring.ingest.writer import ingest_batch
from metamon.monitoring.search.indexer import load_documents

router = APIRouter(prefix="/traces", tags=["traces"])
Reader = Annotated[Principal, Depends(require_scope("read"))]


def item_errors(exc: ValidationError) -> list[dict]:
    """Pydantic's errors, reshaped to name the batch item and the field of each problem."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        item = loc[1] if len(loc) > 1 and loc[0] == "traces" and isinstance(loc[1], int) else None
        field = ".".join(str(part) for part in (loc[2:] if item is not None else loc)) or "body"
        errors.append({"item": item, "field": field, "message": err["msg"], "type": err["type"]})
    return errors


@router.post(
    "",
    response_model=IngestResult,
    openapi_extra=documented_json_body(TraceBatch),
    responses={
        413: {"description": "Body or batch too large"},
        415: {"description": "Not JSON"},
        422: {"description": "Invalid items, each named by index and field"},
    },
)
async def ingest_traces(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require_scope("ingest"))],
) -> IngestResult:
    """Ingest up to `METAMON_INGEST_MAX_BATCH` traces. Re-sending a trace `id` updates it."""
    _, body = await read_body(request, ("application/json",), settings.ingest.max_body_bytes)
    try:
        batch = TraceBatch.model_validate_json(body)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, item_errors(exc)) from None
    if len(batch.traces) > settings.ingest.max_batch:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"batch of {len(batch.traces)} traces exceeds the limit of {settings.ingest.max_batch}",
        )
    stored = await run_in_threadpool(ingest_batch, session, settings, principal.project_id, batch.traces)
    return IngestResult(
        accepted=len(stored), traces=[IngestedTrace(id=ext, trace_id=str(tid)) for ext, tid in stored]
    )


@router.get("/{trace_id}", response_model=TraceDocument)
def get_trace(
    trace_id: uuid.UUID, session: SessionDep, settings: SettingsDep, principal: Reader
) -> TraceDocument:
    """One trace of the key's project in full, from PostgreSQL: the document the search index holds
    (spans, evaluator scores and verdicts, expert labels)."""
    trace = session.get(Trace, trace_id)
    if trace is None or trace.project_id != principal.project_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such trace")
    document = load_documents(session, settings, [trace_id])[0]["_source"]
    document.pop("indexed_at")
    return TraceDocument.model_validate(document)
