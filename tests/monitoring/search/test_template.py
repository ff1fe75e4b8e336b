"""The index template is package data; elasticsearch/ holds the same file for users who install it by hand."""

import json

from metamon.monitoring.search.indices import TEMPLATE_FILE
from tests.paths import CHECKOUT


def test_the_mounted_template_is_the_packaged_one():
    mounted = CHECKOUT / "elasticsearch" / "traces-template.json"
    assert json.loads(mounted.read_text()) == json.loads(TEMPLATE_FILE.read_text()), (
        "copy monitoring/search/traces-template.json to elasticsearch/"
    )
