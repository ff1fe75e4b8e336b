"""metamon-traces: a trace explorer over Elasticsearch. Free text and filters (app, model, domain, prompt
version, expert label, failing evaluator) narrow every panel; the table links each trace to its full
JSON in the API; latency and cost distributions; traces over time by domain and by model."""

from grafana_foundation_sdk.builders import elasticsearch
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from metamon.monitoring.dashboards.actions import API, GRAFANA_USER, api_action, docs, field
from metamon.monitoring.dashboards.panels import (
    barchart_panel,
    base,
    column,
    data_link,
    lucene,
    sql_variable,
    table_panel,
    terms_variable,
    textbox_variable,
    timeseries_panel,
)
from metamon.monitoring.dashboards.uids import UIDS
from metamon.monitoring.db.models.review import LABELS

# Filter variable -> (label, keyword field of the trace document).
FILTERS = {
    "app": ("App", "app"),
    "model": ("Model", "model"),
    "domain": ("Domain", "domain"),
    "prompt_version": ("Prompt version", "prompt_version"),
    "label": ("Expert label", "labels"),
    "failing": ("Failing evaluator", "evaluators_failed"),
}
# The project's documents carry its id, not its slug.
PROJECT_ID = "SELECT id::text FROM projects WHERE slug = '$project'"
# Each filter is `(field:$variable)`; its All value, inserted as it is, also keeps the traces that have
# no value in the field (unlabelled traces, traces no evaluator failed).
QUERY = " AND ".join(["project_id:$project_id", "($q)", *(f"({f}:${v})" for v, (_, f) in FILTERS.items())])
COLUMNS = [
    "timestamp",
    "trace_id",
    "app",
    "model",
    "domain",
    "prompt_version",
    "status",
    "latency_seconds",
    "cost_usd",
    "labels",
    "evaluators_failed",
    "input",
]


def all_or_missing(name: str) -> str:
    return f"* OR (*:* -_exists_:{name})"


def build():
    dashboard = base(
        UIDS["traces"],
        "metamon / Traces",
        "Search the project's traces by free text and filters, open one's full JSON, and see their latency, "
        "cost and volume by domain and model.",
        ["traces"],
        datasources=[
            ("postgres", "grafana-postgresql-datasource", "PostgreSQL"),
            ("elasticsearch", "elasticsearch", "Elasticsearch"),
        ],
    )
    variables = [
        sql_variable("project_id", "Project id", PROJECT_ID, multi=False, hide=True),
        textbox_variable("q", "Search", "*", "Lucene query over the traces' text and fields, * for all."),
        *(terms_variable(v, label, f, all_value=all_or_missing(f)) for v, (label, f) in FILTERS.items()),
    ]
    for variable in variables:
        dashboard = dashboard.with_variable(variable)
    table = table_panel(
        "Traces",
        "The newest 100 matching traces. trace_id links to the trace's full JSON in the API (spans, scores, "
        "labels) and to the API docs page of that request; labels labels the trace or makes it a golden case.",
        "short",
        lucene(
            QUERY,
            metric=elasticsearch.RawData()
            .id("1")
            .settings(elasticsearch.ElasticsearchRawDataSettings().size("100")),
        ),
        height=12,
    ).with_transformation(
        DataTransformerConfig(id_val="filterFieldsByName", options={"include": {"names": COLUMNS}})
    )
    table = column(table, "latency_seconds", unit="s")
    table = column(table, "cost_usd", unit="currencyUSD")
    table = column(
        table,
        "trace_id",
        links=[
            data_link("Trace JSON (API)", f"{API}/api/v1/traces/{field('trace_id')}"),
            data_link("API docs: read a trace", docs("traces-get_trace")),
        ],
    )
    trace = {"trace_id": field("trace_id")}
    table = column(
        table,
        "labels",
        actions=[
            *(
                api_action(
                    f"Label {label}",
                    "/api/v1/expert-review/label",
                    {**trace, "reviewer": GRAFANA_USER, "label": label, "notes": "$notes"},
                    confirmation=f"Label this trace {label} as yourself?",
                    variables={"notes": "Notes"},
                )
                for label in LABELS
            ),
            api_action(
                "Promote to the golden set",
                "/api/v1/expert-review/golden",
                {**trace, "actor": GRAFANA_USER, "expected_answer": "$expected_answer"},
                confirmation="Make this trace a golden case the validation agent replays?",
                variables={"expected_answer": "Expected answer"},
            ),
        ],
        # Facts and tags of a golden case are lists, which an action's variables cannot be.
        links=[data_link("API docs: golden case with facts and tags", docs("expert-review-post_golden"))],
    )
    return (
        dashboard.with_panel(table)
        .with_panel(
            barchart_panel(
                "Latency distribution",
                "Matching traces per 250 ms of end-to-end latency.",
                "short",
                lucene(
                    QUERY,
                    elasticsearch.Histogram()
                    .id("2")
                    .field("latency_seconds")
                    .settings(
                        elasticsearch.ElasticsearchHistogramSettings().interval("0.25").min_doc_count("1")
                    ),
                ),
            )
        )
        .with_panel(
            barchart_panel(
                "Cost distribution",
                "Matching traces per tenth of a US cent of LLM cost.",
                "short",
                lucene(
                    QUERY,
                    elasticsearch.Histogram()
                    .id("2")
                    .field("cost_usd")
                    .settings(
                        elasticsearch.ElasticsearchHistogramSettings().interval("0.001").min_doc_count("1")
                    ),
                ),
            )
        )
        .with_panel(
            timeseries_panel(
                "Traces over time by domain",
                "Matching traces per interval, per domain.",
                "short",
                lucene(
                    QUERY,
                    elasticsearch.Terms().id("2").field("domain"),
                    elasticsearch.DateHistogram().id("3").field("timestamp"),
                ),
                min=0,
            )
        )
        .with_panel(
            timeseries_panel(
                "Traces over time by model",
                "Matching traces per interval, per model.",
                "short",
                lucene(
                    QUERY,
                    elasticsearch.Terms().id("2").field("model"),
                    elasticsearch.DateHistogram().id("3").field("timestamp"),
                ),
                min=0,
            )
        )
    )
