"""The traces index template (package data; `elasticsearch/` holds the same file for users to mount),
monthly indices behind one alias, and retention."""

import json
from datetime import UTC, datetime
from importlib.resources import files

from elasticsearch import Elasticsearch

from metamon.monitoring.settings import Settings

TEMPLATE_FILE = files(__package__) / "traces-template.json"


def index_name(settings: Settings, when: datetime) -> str:
    """Traces are placed by the month they were first ingested, which never changes, so a trace
    re-sent later overwrites its own document instead of leaving a copy in another index."""
    return f"{settings.search.traces_index_alias}-{when.astimezone(UTC):%Y.%m}"


def template_body(settings: Settings) -> dict:
    body = json.loads(TEMPLATE_FILE.read_text())
    alias = settings.search.traces_index_alias
    body["index_patterns"] = [f"{alias}-*"]
    body["template"]["aliases"] = {alias: {}}
    body["template"]["settings"]["number_of_shards"] = settings.search.index_shards
    body["template"]["settings"]["number_of_replicas"] = settings.search.index_replicas
    return body


def ensure_indices(es: Elasticsearch, settings: Settings) -> None:
    """Install the template and this month's index, so the alias always exists for searches."""
    body = template_body(settings)
    es.indices.put_index_template(name=settings.search.traces_index_alias, **body)
    # Indices made by an older template get the fields added since (their mappings are strict).
    if trace_indices(es, settings):
        es.indices.put_mapping(
            index=f"{settings.search.traces_index_alias}-*",
            properties=body["template"]["mappings"]["properties"],
        )
    current = index_name(settings, datetime.now(UTC))
    if not es.indices.exists(index=current):
        es.options(ignore_status=400).indices.create(index=current)  # 400: created meanwhile


def trace_indices(es: Elasticsearch, settings: Settings) -> list[str]:
    found = es.indices.get(index=f"{settings.search.traces_index_alias}-*", allow_no_indices=True)
    return sorted(found.keys())


def delete_trace_indices(
    es: Elasticsearch, settings: Settings, older_than: datetime | None = None
) -> list[str]:
    """Delete monthly indices (all of them, or those whose month ended before `older_than`)."""
    doomed = [
        name
        for name in trace_indices(es, settings)
        if older_than is None or name < index_name(settings, older_than)
    ]
    for name in doomed:
        es.indices.delete(index=name)
    return doomed
