"""Objects named in the settings as 'package.module:attribute' (validation targets, chat model factories)."""

import importlib
from typing import Any


def import_object(spec: str) -> Any:
    """'package.module:name' or 'package.module:object.attribute'."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:attribute', got {spec!r}")
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found
