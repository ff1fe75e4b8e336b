"""Grafana dashboards as code (grafana-foundation-sdk): one module per dashboard, rendered into
grafana/dashboards/ by `metamon dashboards generate` and provisioned from there."""
