"""Elasticsearch: the traces index, the outbox-fed indexer, and the search queries."""
