"""`metamon rules generate | check`: the Prometheus rule files and their promtool tests, rendered from the
thresholds (package data, or --thresholds)."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

from metamon.monitoring.alerting.generate import stale_outputs, write_outputs
from metamon.monitoring.alerting.rule_tests import TESTS_DIR
from metamon.monitoring.alerting.rules import RULES_DIR
from metamon.monitoring.alerting.thresholds import THRESHOLDS_PATH

app = typer.Typer(help="Prometheus recording and alerting rules.", no_args_is_help=True)

ThresholdsOption = Annotated[Path, typer.Option(help="The thresholds file.", dir_okay=False)]
RulesDirOption = Annotated[Path, typer.Option(help="Where the rule files go (fast/ holds the fast profile).")]
TestsDirOption = Annotated[
    Path,
    typer.Option(help="Where the promtool tests go, one file per rule group (fast/ for the fast profile)."),
]


def _shown(path: Path) -> Path:
    cwd = Path.cwd()
    return path.relative_to(cwd) if path.is_absolute() and path.is_relative_to(cwd) else path


def _render(
    action: Callable[..., list[Path]], thresholds: Path, rules_dir: Path, tests_dir: Path
) -> list[Path]:
    try:
        return action(thresholds, rules_dir, tests_dir)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        typer.echo(f"cannot use {_shown(thresholds)}: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def generate(
    thresholds: ThresholdsOption = THRESHOLDS_PATH,
    rules_dir: RulesDirOption = RULES_DIR,
    tests_dir: TestsDirOption = TESTS_DIR,
) -> None:
    """Render both profiles' rule files (standard and fast) and their promtool tests from the thresholds."""
    for path in _render(write_outputs, thresholds, rules_dir, tests_dir):
        typer.echo(f"wrote {_shown(path)}")


@app.command()
def check(
    thresholds: ThresholdsOption = THRESHOLDS_PATH,
    rules_dir: RulesDirOption = RULES_DIR,
    tests_dir: TestsDirOption = TESTS_DIR,
) -> None:
    """Exit 1 when a rule or test file differs from a fresh rendering of the thresholds (or is missing)."""
    stale = _render(stale_outputs, thresholds, rules_dir, tests_dir)
    for path in stale:
        typer.echo(f"{_shown(path)} is stale: run `metamon rules generate`", err=True)
    if stale:
        raise typer.Exit(1)
    typer.echo("rule and test files are up to date")
