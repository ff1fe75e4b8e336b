"""The `metamon` command line: one module per command group."""
