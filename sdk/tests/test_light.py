"""The SDK stays light: httpx is its only dependency and it never imports the server."""

import ast
import importlib.util
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest

import metamon.sdk

SOURCE = Path(metamon.sdk.__file__).parent


def test_httpx_is_the_only_hard_dependency():
    hard = [r for r in requires("metamon-sdk") if "extra ==" not in r]
    assert [r.split(">")[0].split("<")[0].strip() for r in hard] == ["httpx"]


def test_no_module_imports_anything_of_metamon_but_the_sdk():
    for path in SOURCE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith("metamon.") or name.startswith("metamon.sdk"), (path.name, name)
    assert not any(name.startswith(("metamon.monitoring", "metamon.agents")) for name in sys.modules)


@pytest.mark.parametrize(
    ("module", "needs", "extra"),
    [("langchain", "langchain_core", "langchain"), ("otel", "opentelemetry.sdk", "otel")],
)
def test_an_extra_that_is_not_installed_says_how_to_install_it(module, needs, extra):
    try:
        installed = importlib.util.find_spec(needs) is not None
    except ModuleNotFoundError:
        installed = False
    if installed:
        pytest.skip(f"{needs} is installed here")
    with pytest.raises(ImportError, match=rf"metamon-sdk\[{extra}\]"):
        importlib.import_module(f"metamon.sdk.{module}")
