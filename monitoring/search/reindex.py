"""`metamon reindex`: rebuild the traces index from PostgreSQL, with a progress bar."""

from elasticsearch import helpers
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select

from metamon.monitoring.db.models import Trace
from metamon.monitoring.db.session import session_factory
from metamon.monitoring.search.client import get_es
from metamon.monitoring.search.indexer import load_documents
from metamon.monitoring.search.indices import delete_trace_indices, ensure_indices
from metamon.monitoring.settings import Settings

BATCH = 2000


def reindex(settings: Settings, recreate: bool = True) -> int:
    """Index every trace; with `recreate`, drop the indices first so nothing stale survives."""
    es = get_es(settings.search.url)
    if recreate:
        delete_trace_indices(es, settings)
    ensure_indices(es, settings)
    sessions = session_factory(settings.database.url)
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(Trace))
    columns = (TextColumn("reindexing traces"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("reindex", total=total)

        def actions():
            last_id = None
            while True:
                with sessions() as session:  # keyset paging by id: constant cost per batch
                    query = select(Trace.id).order_by(Trace.id).limit(BATCH)
                    if last_id is not None:
                        query = query.where(Trace.id > last_id)
                    ids = session.scalars(query).all()
                    if not ids:
                        return
                    yield from load_documents(session, settings, ids)
                last_id = ids[-1]

        # Two bulk threads keep Elasticsearch busy while the next batch is read from PostgreSQL.
        done = 0
        for ok, item in helpers.parallel_bulk(es, actions(), chunk_size=500, thread_count=2):
            if not ok:
                raise RuntimeError(f"reindex failed: {item}")
            done += 1
            if done % 500 == 0:
                progress.update(task, completed=done)
        progress.update(task, completed=done)
    es.indices.refresh(index=settings.search.traces_index_alias)
    return done
