"""The preview command refuses bad arguments before it queries anything, and draws what it can when a
backend is down."""

import json

import pytest

from metamon.monitoring.dashboards.preview import preview
from metamon.monitoring.settings import get_settings
from tests.conftest import free_port, run_metamon


@pytest.mark.parametrize(
    "args, message",
    [(["--from", "yesterday"], "not a time: 'yesterday'"), (["--var", "project"], "expected name=value")],
)
def test_bad_arguments_exit_2_naming_them(tmp_path, args, message):
    result = run_metamon("dashboards", "preview", "--out", str(tmp_path / "png"), *args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "png").exists()


def test_a_backend_that_is_down_is_said_on_its_panels_and_the_picture_is_drawn(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    dashboard = {
        "uid": "down",
        "title": "Prometheus down",
        "templating": {"list": []},
        "panels": [
            {
                "type": "timeseries",
                "title": "Requests",
                "gridPos": {"x": 0, "y": 0, "w": 24, "h": 8},
                "targets": [{"datasource": {"type": "prometheus"}, "refId": "A", "expr": "up"}],
            }
        ],
    }
    (tmp_path / "down.json").write_text(json.dumps(dashboard))
    settings = get_settings().model_copy(update={"prometheus_url": dead})
    (result,) = preview(settings, tmp_path / "png", directory=tmp_path)
    (panel,) = result.panels
    assert panel.drawn["series"] == 0
    assert len(panel.drawn["notes"]) == 1 and panel.drawn["notes"][0].startswith(f"A: Prometheus at {dead}: ")
    assert result.path.stat().st_size > 0
