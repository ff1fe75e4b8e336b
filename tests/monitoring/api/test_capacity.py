"""Capacity: one pooled connection per request at most, and many requests of one key at once (their
last-use touch due) complete instead of deadlocking the pool."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import event, select

from metamon.monitoring.db.models import ApiKey
from metamon.monitoring.db.session import POOL_OVERFLOW, POOL_SIZE, get_engine, session_scope
from metamon.monitoring.keys import create_key

pytestmark = pytest.mark.stack


def _fresh_key(database_url: str, project: str) -> tuple[ApiKey, dict[str, str]]:
    with session_scope(database_url) as session:
        key, plaintext = create_key(session, project, ["ingest", "read", "review"])
    return key, {"Authorization": f"Bearer {plaintext}"}


def test_a_request_never_holds_two_pooled_connections_even_when_its_key_is_touched(client, database_url):
    key, headers = _fresh_key(database_url, "p-one-connection")  # never used: the touch is due
    engine, peak = get_engine(database_url), []

    def checked_out(*_) -> None:
        peak.append(engine.pool.checkedout())

    event.listen(engine, "checkout", checked_out)
    try:
        for path in ("/api/v1/projects/current", "/api/v1/proposals", "/api/v1/alerts/stats"):
            assert client.get(path, headers=headers).status_code == 200, path
    finally:
        event.remove(engine, "checkout", checked_out)
    assert peak and max(peak) == 1
    with session_scope(database_url) as session:
        assert session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id)) is not None


def test_more_requests_of_one_key_at_once_than_the_pool_has_connections_all_complete(live_api, database_url):
    # Before: each request held its connection while its touch waited for a second one; with more
    # requests than connections the pool deadlocked until its timeout, then answered 500s.
    _, headers = _fresh_key(database_url, "p-burst")
    burst = 3 * (POOL_SIZE + POOL_OVERFLOW)
    http = httpx.Client(base_url=live_api, headers=headers, timeout=30)
    with http, ThreadPoolExecutor(burst) as pool:
        replies = list(pool.map(lambda _: http.get("/api/v1/projects/current"), range(burst)))
    statuses = [reply.status_code for reply in replies]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= POOL_SIZE, statuses
    # A 503 is the in-flight limit refusing at once, never a wait on the pool that timed out.
    refusals = {reply.json()["detail"] for reply in replies if reply.status_code == 503}
    assert all("limit of requests in flight" in detail for detail in refusals), refusals
