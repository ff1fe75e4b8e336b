"""Prometheus finds what to scrape through file-based service discovery, so ports stay settings."""

import json
from pathlib import Path

from monitoring.settings import Settings


def write_prometheus_targets(settings: Settings, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    targets = {
        "prometheus": settings.prometheus_port,
        "alertmanager": settings.alertmanager_port,
        "metamon-api": settings.api_port,
        "metamon-exporter": settings.exporter_port,
    }
    for job, port in targets.items():
        content = json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {}}], indent=2) + "\n"
        path = directory / f"{job}.json"
        if not path.exists() or path.read_text() != content:
            path.write_text(content)  # Prometheus reloads file_sd files when they change
