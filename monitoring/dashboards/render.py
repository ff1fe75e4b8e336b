"""Render the dashboards into grafana/dashboards/<uid>.json: sorted keys and fixed indentation, so the
committed files change only when a dashboard does (`metamon dashboards check` fails on drift)."""

from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from metamon.monitoring.dashboards import (
    alerts,
    overview,
    proposals,
    quality,
    review,
    self_monitoring,
    slo,
    traces,
)

# Relative to the config folder the generator runs in (a checkout).
DASHBOARDS_DIR = Path("grafana") / "dashboards"
MODULES = (overview, quality, slo, alerts, proposals, traces, review, self_monitoring)


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    files = {}
    for module in MODULES:
        built = module.build().build()
        files[f"{built.uid}.json"] = JSONEncoder(sort_keys=True, indent=2).encode(built) + "\n"
    return files


def generate(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """The dashboard files that differ from a fresh rendering, are missing, or are left over."""
    fresh = rendered()
    on_disk = {p.name for p in directory.glob("*.json")} if directory.exists() else set()
    changed = [n for n, text in fresh.items() if n not in on_disk or (directory / n).read_text() != text]
    return sorted(changed + sorted(on_disk - set(fresh)))
