"""The API's request and response bodies, one module per resource, named like its routes module
(`routes/alerts.py` answers with `schemas/alerts.py`). Two bodies belong to the layer that stores them,
which the API may not be imported by: the REST ingest batch (`monitoring/ingest/schemas.py`, shared with
the writer) and Alertmanager's webhook payload (`monitoring/workflow/alerts.py`)."""
