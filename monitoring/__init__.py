"""metamon control plane: API, database, stack, CLI."""
