"""Trace ingest: the REST batch schema, the OTLP mapping, and the one write path both use."""
