"""Database: SQLAlchemy 2 models, engine and sessions. PostgreSQL is the source of truth."""
