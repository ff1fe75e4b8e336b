"""The local stack: PostgreSQL, Elasticsearch, Prometheus, Alertmanager and the API under supervisor."""


class StackError(Exception):
    """A problem `metamon stack` reports as one clear sentence, without a traceback."""
