"""The API's request and response bodies, one module per resource, named like its routes module
(`routes/alerts.py` answers with `schemas/alerts.py`). The REST ingest body is the ingest layer's own
(`monitoring/ingest/schemas.py`), since the SDK and the writer share it."""
