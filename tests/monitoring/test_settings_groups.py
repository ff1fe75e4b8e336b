"""Settings live in groups, and every METAMON_* variable keeps its flat name: in the environment, in
`.env`, as a keyword of Settings(...) and as a key of model_copy(update=...)."""

import pydantic
import pytest

from metamon.monitoring.settings import ENVIRONMENT, GROUPS, Settings


def _value(settings: Settings, name: str):
    group, field = ENVIRONMENT[name]
    return getattr(getattr(settings, group), field) if group else getattr(settings, field)


def test_every_field_has_one_flat_name_and_the_stack_is_a_group_of_its_own():
    fields = sum(len(model.model_fields) for model in GROUPS.values())
    top_level = [name for name, (group, _) in ENVIRONMENT.items() if group is None]
    assert len(ENVIRONMENT) == fields + len(top_level) == 117
    assert {"database", "search", "alerting", "research", "validation", "rollout"} <= set(GROUPS)
    assert {"notifications", "exporter", "api", "stack"} <= set(GROUPS)
    stack = {name for name, (group, _) in ENVIRONMENT.items() if group == "stack"}
    assert {"java_home", "maven_settings", "postgres_bin", "elasticsearch_heap", "stack_dir"} <= stack


def test_the_environment_fills_the_groups_by_the_flat_names(make_settings, monkeypatch):
    monkeypatch.setenv("METAMON_POSTGRES_PORT", "6543")
    monkeypatch.setenv("METAMON_RESEARCH_WINDOW_SECONDS", "900")
    monkeypatch.setenv("METAMON_VALIDATION_TARGETS", '{"shop": "http://127.0.0.1:9/answer"}')
    monkeypatch.setenv("METAMON_ROLLOUT_STAGES", "[20, 100]")
    monkeypatch.setenv("METAMON_ALERT_WEBHOOK_TOKEN", "t" * 30)
    settings = make_settings()
    assert settings.database.port == 6543 and settings.database.url.endswith("@127.0.0.1:6543/metamon")
    assert settings.research.window_seconds == 900
    assert settings.validation.targets == {"shop": "http://127.0.0.1:9/answer"}
    assert settings.rollout.stages == [20, 100]
    assert settings.webhook_token() == "t" * 30


def test_a_dotenv_file_uses_the_same_names(make_settings, tmp_path):
    env = tmp_path / ".env"
    env.write_text("METAMON_ELASTICSEARCH_PORT=9301\nMETAMON_SMTP_PORT=2525\nMETAMON_LOG_LEVEL=DEBUG\n")
    settings = Settings(_env_file=env)
    assert settings.search.url == "http://127.0.0.1:9301"
    assert (settings.notifications.smtp_port, settings.log_level) == (2525, "DEBUG")


def test_the_environment_wins_over_dotenv_and_keywords_over_both(make_settings, monkeypatch, tmp_path):
    env = tmp_path / ".env"
    env.write_text("METAMON_API_PORT=1111\nMETAMON_EXPORTER_PORT=2222\n")
    monkeypatch.setenv("METAMON_API_PORT", "3333")
    settings = Settings(_env_file=env, exporter_port=4444)
    assert (settings.api.port, settings.exporter.port) == (3333, 4444)


def test_keywords_and_copies_take_flat_names_or_groups(make_settings):
    settings = make_settings(validation_concurrency=3, research={"min_samples": 7})
    assert (settings.validation.concurrency, settings.research.min_samples) == (3, 7)
    copy = settings.model_copy(update={"validation_concurrency": 5, "smtp_host": "mail", "log_level": "X"})
    assert (copy.validation.concurrency, copy.notifications.smtp_host, copy.log_level) == (5, "mail", "X")
    assert settings.validation.concurrency == 3  # the original is untouched
    assert copy.research.min_samples == 7


def test_defaults_are_the_flat_settings_defaults(make_settings):
    settings = make_settings()
    assert [_value(settings, n) for n in ("api_port", "postgres_db", "rollout_stages", "exporter_port")] == [
        8000,
        "metamon",
        [10, 50, 100],
        9464,
    ]


def test_an_unknown_field_in_a_group_is_refused(make_settings):
    with pytest.raises(pydantic.ValidationError, match="min_sample"):
        make_settings(research={"min_sample": 7})
