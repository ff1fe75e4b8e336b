"""The webhook token has no known default: generated on first use (0600, its path printed), and a
public bind refuses a known or short one."""

import os
import stat
import subprocess
import time

import pytest

from metamon.monitoring.settings import KNOWN_WEBHOOK_TOKENS, Settings, refuse_public_bind_with_known_token
from tests.conftest import METAMON, free_port, run_metamon


def test_the_token_is_generated_once_into_a_0600_file_and_then_read_back(tmp_path):
    settings = Settings(_env_file=None, stack_dir=tmp_path)
    path = tmp_path / "secrets" / "alert_webhook_token"
    assert settings.alerting.webhook_token_file == path and not path.exists()  # nothing written until needed
    token = settings.webhook_token()
    assert path.read_text() == token and len(token) >= 32 and token not in KNOWN_WEBHOOK_TOKENS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(_env_file=None, stack_dir=tmp_path).webhook_token() == token
    assert Settings(_env_file=None, stack_dir=tmp_path / "other").webhook_token() != token
    # A token set explicitly wins, and writes nothing.
    explicit = Settings(_env_file=None, stack_dir=tmp_path / "set", alert_webhook_token="t" * 40)
    assert explicit.webhook_token() == "t" * 40 and not (tmp_path / "set").exists()


@pytest.mark.stack  # runs `metamon serve`
@pytest.mark.parametrize("token", [*sorted(KNOWN_WEBHOOK_TOKENS), "short-token"])
def test_a_public_bind_refuses_a_known_or_short_token(tmp_path, token):
    refused = run_metamon(
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        env={"METAMON_ALERT_WEBHOOK_TOKEN": token, "METAMON_STACK_DIR": str(tmp_path)},
        timeout=60,
    )
    assert refused.returncode == 2 and "refusing to listen on 0.0.0.0" in refused.stderr
    # On loopback the same token is fine (the local stack, tests).
    settings = Settings(_env_file=None, stack_dir=tmp_path, alert_webhook_token=token)
    refuse_public_bind_with_known_token(settings, "127.0.0.1")
    refuse_public_bind_with_known_token(settings, "::1")


@pytest.mark.stack
def test_a_public_bind_starts_with_a_generated_token_and_says_where_it_is(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "METAMON_ALERT_WEBHOOK_TOKEN"}
    server = subprocess.Popen(
        [METAMON, "serve", "--host", "0.0.0.0", "--port", str(port)],
        env={**env, "METAMON_STACK_DIR": str(tmp_path)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said = [server.stderr.readline() for _ in range(2)]  # the generation is logged, then where it is
        assert f"the webhook token is in {tmp_path / 'secrets' / 'alert_webhook_token'}\n" in said
        assert server.poll() is None  # it started
        time.sleep(0.5)
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(10)
    assert stat.S_IMODE((tmp_path / "secrets" / "alert_webhook_token").stat().st_mode) == 0o600
