"""The `metamon` command itself: its version, and what it says when a backend cannot be reached."""

from importlib.metadata import version

from tests.conftest import free_port, run_metamon


def test_version():
    result = run_metamon("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"metamon {version('metamon')}")


def test_an_unreachable_database_is_one_line_naming_its_url_without_the_password():
    url = f"postgresql+psycopg://metamon:s3cret@127.0.0.1:{free_port()}/metamon"
    result = run_metamon("keys", "list", env={"METAMON_DATABASE_URL": url})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot connect to the database at {url.replace('s3cret', '***')}")
    assert "METAMON_DATABASE_URL" in line and "Connection refused" in line and "s3cret" not in line


def test_the_url_named_is_the_one_given_with_the_url_option():
    url = f"postgresql+psycopg://metamon:metamon@127.0.0.1:{free_port()}/elsewhere"
    result = run_metamon("db", "current", "--url", url)
    [line] = result.stderr.strip().splitlines()
    assert result.returncode == 1 and "/elsewhere (--url)" in line


def test_an_unreachable_elasticsearch_is_one_line_naming_its_url(database_url):
    url = f"http://127.0.0.1:{free_port()}"
    result = run_metamon(
        "reindex", env={"METAMON_DATABASE_URL": database_url, "METAMON_ELASTICSEARCH_URL": url}
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot reach Elasticsearch at {url}")
    assert "Traceback" not in result.stderr


def test_probe_reports_each_dependency_and_fails_when_one_is_down(database_url):
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"METAMON_DATABASE_URL": database_url, "METAMON_ELASTICSEARCH_URL": dead}
    up = run_metamon("probe", "database", env=env)
    assert up.returncode == 0 and up.stdout.startswith("database: up (PostgreSQL 15")
    down = run_metamon("probe", "database", "elasticsearch", env=env)
    assert down.returncode == 1
    assert down.stdout.splitlines()[1].startswith("elasticsearch: down")
    assert run_metamon("probe", "queue").returncode == 2
