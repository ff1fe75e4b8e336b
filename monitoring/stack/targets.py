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


def render_prometheus_config(settings: Settings, targets: Path, external_labels: dict[str, str]) -> dict:
    """The committed config for the settings' alerting profile (the fast rules and their 1 s intervals
    for fast), reading its targets from `targets` and adding `external_labels`. Paths become absolute,
    since the rendering lives outside prometheus/."""
    prometheus_dir = settings.config_dir / "prometheus"
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    profile = settings.stack.alerting_profile
    if profile == "fast":
        interval = load_thresholds().profiles["fast"].evaluation_interval
        config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(settings.config_dir / RULES_DIR / OUTPUTS[profile])]
    config["global"]["external_labels"].update(external_labels)
    for sd in [*config["alerting"]["alertmanagers"], *config["scrape_configs"]]:
        for discovery in sd.get("file_sd_configs", []):
            discovery["files"] = [str(targets / Path(f).name) for f in discovery["files"]]
    return config


def write_rendered(path: Path, config: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Rendered by `metamon stack up`; edit prometheus/prometheus.yml.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )


def write_prometheus_config(settings: Settings) -> None:
    """For the fast profile: the committed config with the fast rules and their 1 s intervals."""
    if settings.stack.alerting_profile == "standard":
        return
    targets = settings.config_dir / "prometheus" / "targets"
    write_rendered(prometheus_config(settings), render_prometheus_config(settings, targets, {}))


def standard_targets(settings: Settings) -> dict[str, list[int]]:
    return {
        "prometheus": [settings.alerting.prometheus_port],
        "alertmanager": [settings.alerting.alertmanager_port],
        "metamon-api": [settings.api.port],
        "metamon-exporter": [settings.exporter.port],
    }


def write_prometheus_targets(directory: Path, targets: dict[str, list[int]]) -> None:
    """One file_sd file per job, listing its loopback ports."""
    directory.mkdir(parents=True, exist_ok=True)
    for job, ports in targets.items():
        entries = [{"targets": [f"127.0.0.1:{port}" for port in ports], "labels": {}}]
        content = json.dumps(entries, indent=2) + "\n"
        path = directory / f"{job}.json"
        if not path.exists() or path.read_text() != content:
            path.write_text(content)  # Prometheus reloads file_sd files when they change
