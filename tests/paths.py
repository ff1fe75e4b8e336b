"""The checkout the tests run from: its config folders (prometheus/, grafana/, elasticsearch/) are what
the generators write and users mount."""

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
