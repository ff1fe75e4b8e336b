"""The metric catalogue is the one vocabulary: its users read it, and no other runtime module spells a list
of metric names, measures, exporter families, signals or severities of its own (no server needed)."""

import ast
import json

import yaml

from metamon.agents.evaluation import runs
from metamon.agents.monitor import agent as monitor
from metamon.agents.research import metrics as research_metrics
from metamon.monitoring import catalogue
from metamon.monitoring.alerting.rules import OUTPUTS, RULES_DIR
from metamon.monitoring.catalogue import MEASURES, METRICS, SEVERITIES, SIGNALS
from metamon.monitoring.dashboards.render import rendered
from metamon.monitoring.db.models import EvaluationRun
from metamon.monitoring.db.models import alerts as alert_models
from metamon.monitoring.notifications import digest
from tests.paths import CHECKOUT

PACKAGES = ("agents", "exporter", "monitoring")
VOCABULARY = {m.column for m in MEASURES} | {m.family for m in MEASURES} | set(METRICS) | set(SIGNALS)


def _strings(node: ast.AST) -> list[str]:
    """The string constants among a collection's items, one level down (tuples of tuples, calls)."""
    items = node.keys if isinstance(node, ast.Dict) else node.elts
    found = []
    for item in items:
        if item is None:
            continue
        inner = item.args if isinstance(item, ast.Call) else getattr(item, "elts", [item])
        found += [c.value for c in inner if isinstance(c, ast.Constant) and isinstance(c.value, str)]
    return found


def _collections():
    """(file, node) of every list, tuple, set and dict literal of the runtime packages."""
    for package in PACKAGES:
        for path in sorted((CHECKOUT / package).rglob("*.py")):
            if path == CHECKOUT / "monitoring" / "catalogue.py" or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict):
                    yield path.relative_to(CHECKOUT), node


def _is_metric_list(node: ast.AST) -> bool:
    # Two names can be a coincidence (a search sort on "latency" and "cost"); three are a list.
    return len(set(_strings(node)) & VOCABULARY) >= 3


def test_no_runtime_module_spells_a_list_of_metrics_or_severities_of_its_own():
    metric_lists, severity_lists = [], []
    for path, node in _collections():
        strings = _strings(node)
        if _is_metric_list(node):
            metric_lists.append(f"{path}:{node.lineno}")
        # Effort and risk are low/medium/high too: a severity list names "critical".
        if "critical" in strings and len(set(strings) & set(SEVERITIES)) >= 3:
            severity_lists.append(f"{path}:{node.lineno}")
    assert metric_lists == [] and severity_lists == []


def test_the_scan_catches_the_shapes_of_the_lists_the_catalogue_replaced():
    for source in (
        'METRICS = ("fact_accuracy", "guardrail_pass_rate", "sla_compliance")',
        'GAUGES = (("metamon_fact_accuracy_ratio", "fact_accuracy"), ("metamon_error_ratio", "h"))',
        'METRICS = (Metric("fact_accuracy", "t"), Metric("error_rate"), Metric("cost_per_request_usd"))',
        'WORSE = {"error_ratio": True, "latency_p95": True, "fact_accuracy": False}',
    ):
        assert _is_metric_list(ast.parse(source).body[0].value), source


def test_every_user_reads_the_catalogue():
    columns = tuple(m.column for m in MEASURES)
    # Evaluation runs: their metric columns, each a column of the table.
    assert columns == runs.METRICS
    assert set(columns) <= set(EvaluationRun.__table__.columns.keys())
    # Research: a view of the catalogue, not a copy.
    assert research_metrics.METRICS is METRICS and research_metrics.Metric is catalogue.Metric
    # Digest: the catalogue's measures, in its order.
    assert tuple(m for m in MEASURES if m.digest) == digest.METRICS
    # Monitor: its signals and their directions.
    assert monitor.WORSE_WHEN_HIGHER is SIGNALS
    # The alert table's check constraint.
    assert alert_models.SEVERITIES is SEVERITIES


def test_metrics_measures_and_signals_fit_together():
    for metric in METRICS.values():
        assert metric.measure in MEASURES
        assert metric.alert_labels == {"metric": metric.name}
        assert set(metric.signals) <= set(SIGNALS)
    # Every signal belongs to exactly one metric.
    owners = [m.name for m in METRICS.values() for s in m.signals]
    assert sorted(owners) == sorted(catalogue.metric_of_signal(s).name for s in SIGNALS)
    assert len({m.family for m in MEASURES}) == len(MEASURES)


def test_the_generated_rules_alert_on_every_metric_by_its_label():
    for path in OUTPUTS.values():
        groups = yaml.safe_load((CHECKOUT / RULES_DIR / path).read_text())["groups"]
        labelled = {r["labels"].get("metric") for g in groups for r in g["rules"] if "alert" in r}
        assert labelled - {None} == set(METRICS)


def test_the_quality_dashboard_charts_the_catalogue_ratio_measures():
    quality = json.loads(rendered()["metamon-quality.json"])
    exprs = " ".join(t["expr"] for p in quality["panels"] for t in p.get("targets", []))
    titles = {p["title"] for p in quality["panels"]}
    for measure in MEASURES:
        if measure.format == "ratio" and measure.column != "error_rate":
            assert measure.family in exprs and measure.title in titles, measure.column
