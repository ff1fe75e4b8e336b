"""Every family the exporter registers follows Prometheus naming, walked from the live registry with
data in it, and promtool finds nothing to say about the output."""

import re
import subprocess

import httpx

from metamon.exporter.app import build_registry
from tests.live import exporter

NAME = re.compile(r"^metamon_[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Base units only: seconds not milliseconds, ratios not percents, bytes not kilobytes.
NON_BASE_UNITS = re.compile(
    r"_(milliseconds|millis|ms|minutes|hours|days|percent|kilobytes|megabytes|cents)(_|$)"
)
# Label names that would carry one value per request: unbounded cardinality.
UNBOUNDED_LABELS = {"id", "trace_id", "span_id", "user_id", "session_id", "external_id", "input", "output"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def test_registry_follows_prometheus_naming(settings, populated):
    cap = settings.exporter.label_cap
    families = list(build_registry(settings).collect())
    assert {f.name for f in families} >= {
        "metamon_requests",
        "metamon_request_duration_seconds",
        "metamon_fact_accuracy_ratio",
        "metamon_anomaly_score",
        "metamon_exporter_scrape_errors",
    }
    for family in families:
        assert NAME.match(family.name), family.name
        assert not NON_BASE_UNITS.search(family.name), family.name
        assert family.documentation.endswith("."), family.name
        assert family.type in SUFFIXES, (family.name, family.type)
        # The client adds `_total` to counters; a gauge or histogram never ends in a counter suffix.
        assert not family.name.endswith(("_total", "_count", "_sum", "_bucket")), family.name
        if family.name.endswith("_ratio"):
            assert family.type == "gauge"
            assert all(0 <= s.value <= 1 for s in family.samples), family.name
        values: dict[str, set[str]] = {}
        for sample in family.samples:
            assert sample.name in {family.name + s for s in SUFFIXES[family.type]}, sample.name
            for label, value in sample.labels.items():
                assert re.match(r"^[a-z][a-z0-9_]*$", label) and label not in UNBOUNDED_LABELS, label
                values.setdefault(label, set()).add(value)
        for label, seen in values.items():
            if label not in ("project", "le"):  # projects are created by admins; buckets are config
                assert len(seen) <= cap + 1, (family.name, label, len(seen))


def test_promtool_check_metrics_is_clean_on_the_live_exporter(settings, populated, tmp_path):
    with exporter(settings.database.url, tmp_path) as target:
        text = httpx.get(f"http://{target}/metrics", timeout=10).text
    assert "metamon_requests_total" in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check.stdout + check.stderr
