"""One trace of `POST /api/v1/traces` from the runs an application recorded.

A run is a dict: run_id (UUID), parent (its parent's run_id or None), kind, name, start, end (aware
datetimes), input, output (text), and optionally error (the exception), model, documents
(`{"source_id", "content"}`), input_tokens, output_tokens, tags, metadata. The LangChain handler and
the `trace` context manager both record runs this way; this module is what turns them into a trace.
"""

import json
from datetime import UTC, datetime
from typing import Any

TEXT_LIMIT = 20_000  # characters kept of any input, output or document


def text(value: Any) -> str:
    """Text for an input or output: strings as they are, a one-key dict as its value, the rest as JSON."""
    if isinstance(value, str):
        return value[:TEXT_LIMIT]
    if isinstance(value, dict) and len(value) == 1:
        return text(next(iter(value.values())))
    try:
        return json.dumps(value, default=str)[:TEXT_LIMIT]
    except (TypeError, ValueError):
        return str(value)[:TEXT_LIMIT]


def document(source_id: Any, content: Any, score: float | None = None) -> dict:
    source = str(source_id or "") or None
    return {"source_id": source[:500] if source else None, "content": text(content), "score": score}


def trace_payload(
    root: dict, runs: list[dict], *, app: str, prompt_version: str | None, domain: str | None
) -> dict:
    """The trace of the top-level run `root`; `runs` are root and all its descendants."""
    spans = sorted(runs, key=lambda r: r["start"])
    llm = [r for r in spans if r["kind"] == "llm"]
    errors = [r for r in spans if r.get("error") is not None]
    end = root.get("end") or datetime.now(UTC)

    def tokens(key: str) -> int | None:
        counts = [r[key] for r in spans if r.get(key) is not None]
        return sum(counts) if counts else None

    return {
        "id": str(root["run_id"]),
        "timestamp": root["start"].isoformat(),
        "app": app,
        "prompt_version": prompt_version,
        "domain": domain,
        "model": root.get("model") or next((r["model"] for r in llm if r.get("model")), None),
        "input": root["input"],
        "output": root.get("output") or "",
        "retrieved_context": [d for r in spans for d in r.get("documents", [])],
        "latency_seconds": (end - root["start"]).total_seconds(),
        "input_tokens": tokens("input_tokens"),
        "output_tokens": tokens("output_tokens"),
        "status": "error" if errors else "ok",
        "error_type": type(errors[0]["error"]).__name__[:200] if errors else None,
        "error_message": str(errors[0]["error"])[:TEXT_LIMIT] if errors else None,
        "tags": root.get("tags") or [],
        "metadata": root.get("metadata") or {},
        "spans": [
            {
                "span_id": r["run_id"].hex,
                "parent_span_id": r["parent"].hex if r["parent"] else None,
                "name": r["name"][:500],
                "kind": r["kind"],
                "start_time": r["start"].isoformat(),
                "end_time": r["end"].isoformat() if r.get("end") else None,
                "status": "error" if r.get("error") is not None else "ok",
                "input": r["input"],
                "output": r.get("output"),
            }
            for r in spans
            if r is not root
        ],
    }
