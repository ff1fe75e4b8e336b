"""Reading a request body within the limits: media type (415) and size (413), before any parsing; and
documenting such a body, which FastAPI does not see."""

from fastapi import HTTPException, Request, status
from pydantic import BaseModel


async def read_body(request: Request, allowed_types: tuple[str, ...], max_bytes: int) -> tuple[str, bytes]:
    """Returns (media type, body). The body is read in chunks and abandoned past `max_bytes`, so an
    oversized upload is refused without being held in memory, with or without a Content-Length."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in allowed_types:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type must be {' or '.join(allowed_types)}, got {media_type or 'nothing'}",
        )
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"request body exceeds the limit of {max_bytes} bytes"
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return media_type, b"".join(chunks)


def documented_json_body(model: type[BaseModel]) -> dict:
    """`openapi_extra` for a route that reads its JSON body itself: the body's schema, its nested models
    referenced where monitoring/api/openapi.py moves them."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
