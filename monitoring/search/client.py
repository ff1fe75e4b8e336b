"""One Elasticsearch client per process and URL (the client pools its connections and is thread-safe)."""

from functools import lru_cache

from elastic_transport import OrjsonSerializer
from elasticsearch import Elasticsearch


@lru_cache
def get_es(url: str) -> Elasticsearch:
    # orjson: bulk indexing serialises every document, several times faster than the json module.
    return Elasticsearch(url, request_timeout=10, max_retries=0, serializer=OrjsonSerializer())
