"""The Prometheus rules: rendered from monitoring/alerting/thresholds.yaml, valid for promtool and the real
Prometheus, unit-tested case by case, documented in the runbook."""

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from metamon.monitoring.alerting.rules import OUTPUTS, RULES_DIR, SEVERITIES, stale_outputs
from metamon.monitoring.alerting.thresholds import PROFILES, THRESHOLDS_PATH, load_thresholds, seconds
from metamon.monitoring.dashboards.uids import UIDS
from tests.conftest import free_port, run_metamon
from tests.paths import CHECKOUT

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
PROM_DIR = CHECKOUT / "prometheus"
TEST_FILES = {
    "standard": PROM_DIR / "tests" / "metamon.rules.test.yml",
    "fast": PROM_DIR / "tests" / "fast" / "metamon.rules.test.yml",
}
RUNBOOK = PROM_DIR / "RUNBOOK.md"
# Alerts about an app's traffic or quality carry its scope; component alerts are about metamon itself.
SCOPED_GROUPS = {"metamon-quality", "metamon-slo"}


def _groups(profile: str) -> list[dict]:
    return yaml.safe_load((CHECKOUT / RULES_DIR / OUTPUTS[profile]).read_text())["groups"]


def _alert_rules(profile: str) -> list[tuple[str, dict]]:
    return [(g["name"], r) for g in _groups(profile) for r in g["rules"] if "alert" in r]


def _records(profile: str) -> list[dict]:
    return [r for g in _groups(profile) for r in g["rules"] if "record" in r]


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("profile", PROFILES)
def test_promtool_check_rules_is_clean(profile):
    result = _promtool("check", "rules", str(CHECKOUT / RULES_DIR / OUTPUTS[profile]))
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(g["rules"]) for g in _groups(profile))
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_check_config_loads_the_standard_rules():
    result = _promtool("check", "config", str(PROM_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_promtool_unit_tests_pass():
    result = _promtool("test", "rules", *(str(TEST_FILES[p]) for p in PROFILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(PROFILES)


def test_committed_rule_files_match_the_thresholds():
    assert stale_outputs(rules_dir=CHECKOUT / RULES_DIR) == []
    result = run_metamon("rules", "check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_rules_check_names_each_stale_or_missing_file(tmp_path):
    generated = run_metamon("rules", "generate", "--rules-dir", str(tmp_path))
    assert generated.returncode == 0, generated.stderr
    standard, fast = tmp_path / OUTPUTS["standard"], tmp_path / OUTPUTS["fast"]
    assert standard.read_text() == (CHECKOUT / RULES_DIR / OUTPUTS["standard"]).read_text()
    assert fast.read_text() == (CHECKOUT / RULES_DIR / OUTPUTS["fast"]).read_text()
    assert run_metamon("rules", "check", "--rules-dir", str(tmp_path)).returncode == 0

    fast.write_text(fast.read_text().replace("for: 10s", "for: 11s", 1))
    result = run_metamon("rules", "check", "--rules-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"{fast} is stale" in result.stderr and str(standard) not in result.stderr

    standard.unlink()
    result = run_metamon("rules", "check", "--rules-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"{standard} is stale" in result.stderr and f"{fast} is stale" in result.stderr


def test_the_thresholds_file_drives_both_profiles(tmp_path):
    config = yaml.safe_load(THRESHOLDS_PATH.read_text())
    config["levels"]["fact_accuracy"]["critical"] = 0.8
    config["profiles"]["fast"]["for"]["fact_accuracy_low"] = "7s"
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(yaml.safe_dump(config))

    result = run_metamon("rules", "generate", "--thresholds", str(thresholds), "--rules-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for profile, for_ in (("standard", "15m"), ("fast", "7s")):
        rules = yaml.safe_load((tmp_path / OUTPUTS[profile]).read_text())["groups"]
        critical = next(
            r
            for g in rules
            for r in g["rules"]
            if r.get("alert") == "MetamonFactAccuracyLow" and r["labels"]["severity"] == "critical"
        )
        assert critical["expr"].endswith("< 0.8")
        assert critical["for"] == for_


def test_a_broken_thresholds_file_is_refused_with_the_field_named(tmp_path):
    config = yaml.safe_load(THRESHOLDS_PATH.read_text())
    config["levels"]["guardrail_pas"] = config["levels"].pop("guardrail_pass")
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(yaml.safe_dump(config))

    result = run_metamon("rules", "generate", "--thresholds", str(thresholds), "--rules-dir", str(tmp_path))
    assert result.returncode == 2
    assert "levels.guardrail_pas" in result.stderr and "levels.guardrail_pass" in result.stderr
    assert not (tmp_path / OUTPUTS["standard"]).exists()


@pytest.mark.parametrize("profile", PROFILES)
def test_every_alert_is_named_labelled_and_annotated(profile):
    links = load_thresholds().links
    dashboards = {f"{links.grafana}/d/{uid}" for uid in UIDS.values()}
    for group, rule in _alert_rules(profile):
        name = rule["alert"]
        assert re.fullmatch(r"Metamon(?:[A-Z][a-z0-9]+|[A-Z]{2,}(?=[A-Z]|$))+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url", "dashboard_url"}, name
        assert annotations["summary"] and "{{" not in annotations["summary"], name
        assert "{{ $labels." in annotations["description"] or "{{ $value" in annotations["description"], name
        assert annotations["runbook_url"] == f"{links.runbook}#{name.lower()}"
        assert annotations["dashboard_url"] in dashboards, name
        if group in SCOPED_GROUPS:
            assert "by (project, app" in rule["expr"] or rule["expr"].startswith("project_app:"), name


def _github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_a_runbook_section_behind_its_runbook_url():
    sections = re.split(r"^## ", RUNBOOK.read_text(), flags=re.M)[1:]
    by_anchor = {_github_anchor(s.splitlines()[0]): s for s in sections}
    names = {rule["alert"] for p in PROFILES for _, rule in _alert_rules(p)}
    assert {s.splitlines()[0].strip() for s in sections} == names
    for profile in PROFILES:
        for _, rule in _alert_rules(profile):
            anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
            section = by_anchor[anchor]
            for part in ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Mitigation.**"):
                assert part in section, (rule["alert"], part)


def _alert_cases(profile: str):
    """(group name, alertname, eval seconds, firing exp_alerts) of every alert case in the test file."""
    doc = yaml.safe_load(TEST_FILES[profile].read_text())
    for group in doc["tests"]:
        for case in group.get("alert_rule_test", []):
            yield group["name"], case["alertname"], seconds(case["eval_time"]), case.get("exp_alerts") or []


@pytest.mark.parametrize("profile", PROFILES)
def test_every_alert_rule_has_a_case_silent_one_evaluation_before_it_fires(profile):
    doc = yaml.safe_load(TEST_FILES[profile].read_text())
    step = seconds(doc["evaluation_interval"])
    assert step == seconds(_groups(profile)[0]["interval"])
    firing = {
        (group, name, at): {a["exp_labels"]["severity"] for a in alerts}
        for group, name, at, alerts in _alert_cases(profile)
    }
    fires_after_silence = {
        (name, severity)
        for (group, name, at), severities in firing.items()
        for severity in severities
        if (group, name, at - step) in firing and severity not in firing[(group, name, at - step)]
    }
    rules = {(rule["alert"], rule["labels"]["severity"]) for _, rule in _alert_rules(profile)}
    assert rules - fires_after_silence == set()
    # No case names an alert that does not exist.
    assert {name for _, name, _, _ in _alert_cases(profile)} <= {name for name, _ in rules}


@pytest.mark.parametrize("profile", PROFILES)
def test_scoped_alerts_fire_with_project_and_app_in_their_cases(profile):
    scoped = {rule["alert"] for group, rule in _alert_rules(profile) if group in SCOPED_GROUPS}
    for _, name, _, alerts in _alert_cases(profile):
        for alert in alerts:
            if name in scoped:
                assert {"project", "app"} <= set(alert["exp_labels"]), name


@pytest.mark.parametrize("profile", PROFILES)
def test_every_recording_rule_is_level_metric_operations_and_has_its_value_checked(profile):
    doc = yaml.safe_load(TEST_FILES[profile].read_text())
    checked = {
        case["expr"]
        for group in doc["tests"]
        for case in group.get("promql_expr_test", [])
        if case.get("exp_samples")
    }
    records = {rule["record"] for rule in _records(profile)}
    assert records
    for record in records:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", record), record
    assert records - checked == set()
    assert checked <= records


def test_the_fast_profile_fires_within_seconds():
    for group in _groups("fast"):
        assert group["interval"] == "1s"
    for _, rule in _alert_rules("fast"):
        assert seconds(rule["for"]) <= 10, rule["alert"]
    for rule in _records("fast"):
        window = re.search(r"\[(\w+)\]", rule["expr"])[1]
        # The baseline is meant to be long; every rate window is at most a few minutes.
        assert seconds(window) <= 360 or "avg_over_time" in rule["expr"], rule["record"]


def _prometheus_config(profile: str, tmp_path: Path) -> Path:
    if profile == "standard":
        return PROM_DIR / "prometheus.yml"  # as shipped: its `for`s outlast the test, nothing is sent
    # The fast rules would fire within seconds: no Alertmanager, so the shared one receives nothing.
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    config.pop("alerting")
    config["rule_files"] = [str(CHECKOUT / RULES_DIR / OUTPUTS["fast"])]
    for job in config["scrape_configs"]:
        for sd in job["file_sd_configs"]:
            sd["files"] = [str(PROM_DIR / f) for f in sd["files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.stack
@pytest.mark.parametrize("profile", PROFILES)
def test_the_real_prometheus_evaluates_every_rule_without_error(profile, tmp_path):
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={_prometheus_config(profile, tmp_path)}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # A group's first evaluation comes within one interval (15s in the standard profile).
        deadline = time.monotonic() + 45
        groups: list[dict] = []
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", timeout=2)
            except httpx.TransportError:
                response = None
            # 503 until the TSDB is open.
            groups = response.json()["data"]["groups"] if response and response.status_code == 200 else []
            if groups and all(r["health"] != "unknown" for g in groups for r in g["rules"]):
                break
            time.sleep(0.5)
        rules = {(g["name"], r["name"]): r for g in groups for r in g["rules"]}
        expected = {(g["name"], r.get("alert") or r["record"]) for g in _groups(profile) for r in g["rules"]}
        assert set(rules) == expected
        errors = {key: r["lastError"] for key, r in rules.items() if r["health"] != "ok"}
        assert errors == {}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
