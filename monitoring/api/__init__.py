"""The FastAPI application: one router module per resource under routes/."""
