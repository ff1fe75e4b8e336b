"""One Elasticsearch client per process and URL (the client pools its connections and is thread-safe)."""

from functools import lru_cache

from elastic_transport import OrjsonSerializer
from elasticsearch import Elasticsearch


@lru_cache
def get_es(url: str) -> Elasticsearch:
    """`url`: one node, or several nodes of a cluster comma-separated. A request fails over to the next
    node on a connection error, never retries on one node (a retry there would only double the wait)."""
    nodes = url.split(",")
    # orjson: bulk indexing serialises every document, several times faster than the json module.
    return Elasticsearch(nodes, request_timeout=10, max_retries=len(nodes) - 1, serializer=OrjsonSerializer())
