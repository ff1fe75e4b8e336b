"""The index template is package data; elasticsearch/ holds the same file for users who install it by hand."""

import json
from datetime import UTC, datetime

from metamon.monitoring.search.indices import (
    TEMPLATE_FILE,
    delete_trace_indices,
    ensure_indices,
    index_name,
    template_body,
)
from tests.paths import CHECKOUT


def test_the_mounted_template_is_the_packaged_one():
    mounted = CHECKOUT / "elasticsearch" / "traces-template.json"
    assert json.loads(mounted.read_text()) == json.loads(TEMPLATE_FILE.read_text()), (
        "copy monitoring/search/traces-template.json to elasticsearch/"
    )


def test_an_index_made_by_an_older_template_gets_the_fields_added_since(settings, es):
    """Monthly indices are strict: one created before a field was added to the template would refuse
    every document carrying it, so ensure_indices puts the template's fields on the existing indices."""
    scratch = settings.model_copy(update={"traces_index_alias": f"older{settings.search.traces_index_alias}"})
    older = template_body(scratch)["template"]["mappings"]
    del older["properties"]["evaluators_failed"]
    index = index_name(scratch, datetime.now(UTC))
    es.indices.create(index=index, mappings=older, aliases={scratch.search.traces_index_alias: {}})
    try:
        ensure_indices(es, scratch)
        mapping = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        assert mapping["evaluators_failed"] == {"type": "keyword"}
        es.index(index=index, id="t", document={"evaluators_failed": ["fact_accuracy"]}, refresh=True)
        assert es.count(index=index, query={"term": {"evaluators_failed": "fact_accuracy"}})["count"] == 1
    finally:
        delete_trace_indices(es, scratch)
        es.options(ignore_status=404).indices.delete_index_template(name=scratch.search.traces_index_alias)
