"""The preview command refuses bad arguments before it queries anything."""

import pytest

from tests.conftest import run_metamon


@pytest.mark.parametrize(
    "args, message",
    [(["--from", "yesterday"], "not a time: 'yesterday'"), (["--var", "project"], "expected name=value")],
)
def test_bad_arguments_exit_2_naming_them(tmp_path, args, message):
    result = run_metamon("dashboards", "preview", "--out", str(tmp_path / "png"), *args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "png").exists()
