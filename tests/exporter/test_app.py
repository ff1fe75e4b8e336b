"""The exporter's registry: conventional names, clean for promtool, values read from stored state."""

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from metamon.exporter.app import build_registry
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.outbox import enqueue_trace_index


def scrape(settings) -> str:
    return generate_latest(build_registry(settings)).decode()


def test_every_family_has_the_metamon_prefix_and_its_help(settings):
    families = list(text_string_to_metric_families(scrape(settings)))
    assert families
    for family in families:
        assert family.name.startswith("metamon_"), family.name
        assert family.documentation


def test_a_failing_source_is_counted_and_hides_nothing_else(settings):
    unreachable = settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    registry = build_registry(unreachable)
    for _ in range(2):
        text = generate_latest(registry).decode()
    errors = {
        s.labels["collector"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "metamon_exporter_scrape_errors_total"
    }
    assert errors and set(errors.values()) == {2.0}  # every database collector, on both scrapes
    assert "metamon_exporter_scrape_duration_seconds" in text


def test_index_backlog_counts_the_traces_waiting_in_the_outbox(settings, database_url, drain):
    import uuid

    drain()
    with session_scope(database_url) as session:
        # the outbox row's traces need not exist for the backlog count
        enqueue_trace_index(session, uuid.uuid4(), [uuid.uuid4() for _ in range(7)])
    samples = {s.name: s.value for f in text_string_to_metric_families(scrape(settings)) for s in f.samples}
    assert samples["metamon_index_backlog_traces"] == 7
    assert samples["metamon_index_backlog_oldest_age_seconds"] >= 0
    assert samples["metamon_exporter_scrape_errors_total"] == 0
    drain()
    samples = {s.name: s.value for f in text_string_to_metric_families(scrape(settings)) for s in f.samples}
    assert samples["metamon_index_backlog_traces"] == 0
