"""The bind address (METAMON_API_HOST) and the public base URL (METAMON_PUBLIC_URL) are separate."""

from metamon.monitoring.alerting.alertmanager_config import webhook_url
from metamon.monitoring.settings import Settings


def test_without_a_public_url_links_use_the_bind_address_and_a_wildcard_reads_as_loopback(make_settings):
    assert make_settings(api_port=8123).api.public_base_url == "http://127.0.0.1:8123"
    assert make_settings(api_host="0.0.0.0").api.public_base_url == "http://127.0.0.1:8000"
    assert make_settings(api_host="10.1.2.3").api.public_base_url == "http://10.1.2.3:8000"


def test_a_public_url_is_what_links_and_the_alertmanager_webhook_use_whatever_the_bind_address(make_settings):
    settings = make_settings(api_host="0.0.0.0", public_url="https://metamon.example.com/")
    assert settings.api.host == "0.0.0.0"
    assert settings.api.public_base_url == "https://metamon.example.com"
    assert webhook_url(settings) == "https://metamon.example.com/api/v1/alerts/webhook"


def test_a_copy_with_another_port_follows_it(make_settings):
    assert (
        make_settings().model_copy(update={"api_port": 9999}).api.public_base_url == "http://127.0.0.1:9999"
    )


def test_the_public_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("METAMON_PUBLIC_URL", "http://metamon.internal:8000")
    monkeypatch.setenv("METAMON_API_HOST", "0.0.0.0")
    settings = Settings(_env_file=None)
    assert (settings.api.host, settings.api.public_base_url) == ("0.0.0.0", "http://metamon.internal:8000")
