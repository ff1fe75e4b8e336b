"""One Elasticsearch client per process and URL (the client pools its connections and is thread-safe)."""

from functools import lru_cache

from elasticsearch import Elasticsearch


@lru_cache
def get_es(url: str) -> Elasticsearch:
    return Elasticsearch(url, request_timeout=10, max_retries=0)
