"""OTLP/HTTP ingest: decoding (protobuf or JSON), mapping spans and log records onto metamon's traces
and spans, and writing them."""
