"""Agents that score traces, watch for anomalies, research causes and validate changes."""
