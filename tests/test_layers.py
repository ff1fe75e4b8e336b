"""Imports point down the layers of DESIGN.md: core (settings, database, outbox...) <- agents (compute and
decide) <- the parts that act and publish <- entry points. Read from the source, nothing is imported."""

import ast

import pytest

from tests.paths import CHECKOUT

FOLDERS = ("agents", "exporter", "monitoring")
# Longest prefix wins. A new top-level module must be placed here: that is the point.
LAYERS = {
    "metamon.monitoring.settings": 1,
    "metamon.monitoring.db": 1,
    "metamon.monitoring.migrations": 1,
    "metamon.monitoring.outbox": 1,
    "metamon.monitoring.importing": 1,
    "metamon.monitoring.logs": 1,
    "metamon.monitoring.security": 1,
    "metamon.monitoring.probes": 1,
    "metamon.monitoring.catalogue": 1,
    "metamon.monitoring.statistics": 1,
    "metamon.agents": 2,
    "metamon.monitoring.workflow": 3,
    "metamon.monitoring.ingest": 3,
    "metamon.monitoring.search": 3,
    "metamon.monitoring.review": 3,
    "metamon.monitoring.notifications": 3,
    "metamon.monitoring.alerting": 3,
    "metamon.monitoring.dashboards": 3,
    "metamon.monitoring.usage": 3,
    "metamon.monitoring.retention": 3,
    "metamon.monitoring.keys": 3,
    "metamon.exporter": 3,
    "metamon.monitoring.api": 4,
    "metamon.monitoring.cli": 4,
    "metamon.monitoring.scheduler": 4,
    "metamon.monitoring.stack": 4,
    "metamon.monitoring.demo": 4,
    "metamon.monitoring.sdk": 4,
}


def _layer(module: str) -> int | None:
    if module == "metamon.monitoring":  # the package's own __init__
        return 1
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)] if prefixes else None


def _modules() -> dict[str, set[str]]:
    """Module name -> the modules it imports (absolute imports only)."""
    imports = {}
    for folder in FOLDERS:
        for path in (CHECKOUT / folder).rglob("*.py"):
            parts = path.relative_to(CHECKOUT).with_suffix("").parts
            name = ".".join(("metamon", *(parts[:-1] if parts[-1] == "__init__" else parts)))
            found = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module)
                elif isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
            imports[name] = found
    return imports


MODULES = _modules()


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    upward = [m for m in MODULES[module] if m.startswith("metamon.") and (_layer(m) or 0) > _layer(module)]
    assert upward == [], f"{module} imports from a higher layer"


def test_nothing_imports_a_generic_top_level_name():
    generic = [
        (module, m) for module, imported in MODULES.items() for m in imported if m.split(".")[0] in FOLDERS
    ]
    assert generic == [], "import them as metamon.<folder>..."
