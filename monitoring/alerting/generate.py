"""What `metamon rules generate | check` writes: each profile's rule file and the promtool tests of each of
its rule groups, all rendered from the thresholds, compared byte for byte by the drift check."""

from pathlib import Path

from metamon.monitoring.alerting.rule_tests import HEADER, PROFILE_DIRS, TESTS_DIR, rule_tests
from metamon.monitoring.alerting.rules import OUTPUTS, RULES_DIR, build_groups, dump, render
from metamon.monitoring.alerting.thresholds import THRESHOLDS_PATH, load_thresholds


def rendered_outputs(
    thresholds_path: Path = THRESHOLDS_PATH, rules_dir: Path = RULES_DIR, tests_dir: Path = TESTS_DIR
) -> dict[Path, str]:
    thresholds = load_thresholds(thresholds_path)
    outputs = {}
    for profile, path in OUTPUTS.items():
        outputs[rules_dir / path] = render(thresholds, profile)
        for group, document in rule_tests(thresholds, profile, build_groups(thresholds, profile)).items():
            test = PROFILE_DIRS[profile] / f"{group}.test.yml"
            header = HEADER.format(profile=profile, group=group, path=TESTS_DIR / test)
            outputs[tests_dir / test] = header + dump(document)
    return outputs


def write_outputs(
    thresholds_path: Path = THRESHOLDS_PATH, rules_dir: Path = RULES_DIR, tests_dir: Path = TESTS_DIR
) -> list[Path]:
    written = []
    for path, text in rendered_outputs(thresholds_path, rules_dir, tests_dir).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def stale_outputs(
    thresholds_path: Path = THRESHOLDS_PATH, rules_dir: Path = RULES_DIR, tests_dir: Path = TESTS_DIR
) -> list[Path]:
    """The rule and test files that differ from (or are missing against) a fresh rendering."""
    return [
        path
        for path, text in rendered_outputs(thresholds_path, rules_dir, tests_dir).items()
        if not path.exists() or path.read_text() != text
    ]
