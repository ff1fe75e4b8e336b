"""What the stack's Prometheus reads: its config for the alerting profile, and the scrape targets
(file-based service discovery, so ports stay settings)."""

import json
from pathlib import Path

import yaml

from metamon.monitoring.alerting.rules import OUTPUTS, RULES_DIR
from metamon.monitoring.alerting.thresholds import load_thresholds
from metamon.monitoring.settings import Settings


def prometheus_config(settings: Settings) -> Path:
    """The committed config for the standard profile; a rendering of it in the stack dir for fast."""
    if settings.stack.alerting_profile == "standard":
        return settings.config_dir / "prometheus" / "prometheus.yml"
    return settings.stack.dir / "prometheus" / "prometheus.yml"


def write_prometheus_config(settings: Settings) -> None:
    """For the fast profile: the committed config with the fast rules and their 1 s intervals. Paths
    become absolute, since the rendering lives outside prometheus/."""
    if settings.stack.alerting_profile == "standard":
        return
    prometheus_dir = settings.config_dir / "prometheus"
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    interval = load_thresholds().profiles["fast"].evaluation_interval
    config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(settings.config_dir / RULES_DIR / OUTPUTS["fast"])]
    for sd in [*config["alerting"]["alertmanagers"], *config["scrape_configs"]]:
        for discovery in sd.get("file_sd_configs", []):
            discovery["files"] = [str(prometheus_dir / f) for f in discovery["files"]]
    path = prometheus_config(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Rendered by `metamon stack up` for the fast profile; edit prometheus/prometheus.yml.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )


def write_prometheus_targets(settings: Settings, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    targets = {
        "prometheus": settings.alerting.prometheus_port,
        "alertmanager": settings.alerting.alertmanager_port,
        "metamon-api": settings.api.port,
        "metamon-exporter": settings.exporter.port,
    }
    for job, port in targets.items():
        content = json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {}}], indent=2) + "\n"
        path = directory / f"{job}.json"
        if not path.exists() or path.read_text() != content:
            path.write_text(content)  # Prometheus reloads file_sd files when they change
