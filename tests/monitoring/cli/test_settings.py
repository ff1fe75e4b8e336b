"""The configuration reference is made from the settings object and documents every setting."""

from metamon.monitoring.cli.settings import reference
from metamon.monitoring.settings import ENVIRONMENT
from tests.paths import CHECKOUT


def test_the_committed_reference_is_fresh():
    committed = (CHECKOUT / "docs" / "configuration.md").read_text()
    assert committed == reference(), "run `metamon settings reference`"


def test_every_setting_is_listed_with_a_description():
    rows = [line for line in reference().splitlines() if line.startswith("| `METAMON_")]
    assert [row.split("`")[1] for row in rows] == [f"METAMON_{n.upper()}" for n in ENVIRONMENT]
    assert [row.split("`")[1] for row in rows if row.endswith("|  |")] == []
