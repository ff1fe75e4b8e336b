"""Prometheus exporter: collectors that publish what the agents computed."""
