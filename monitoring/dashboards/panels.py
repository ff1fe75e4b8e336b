"""What every metamon dashboard is built from: the datasource and scope variables, and panel helpers that
take a unit and a description, so that no panel can be made without them."""

from grafana_foundation_sdk.builders import (
    barchart,
    bargauge,
    dashboard,
    elasticsearch,
    piechart,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from metamon.monitoring.dashboards.actions import (
    API_SERVER_DEFAULT,
    API_SERVER_VARIABLE,
    API_URL_DEFAULT,
    API_URL_VARIABLE,
)

# Datasource variables: a dashboard works with whichever datasource of the type the viewer picks; the
# provisioned ones (grafana/provisioning/datasources) are the defaults.
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${datasource}")
POSTGRES = DataSourceRef(type_val="grafana-postgresql-datasource", uid="${postgres}")
ELASTICSEARCH = DataSourceRef(type_val="elasticsearch", uid="${elasticsearch}")
DEFAULT_UIDS = {
    "datasource": "metamon-prometheus",
    "postgres": "metamon-postgres",
    "elasticsearch": "metamon-elasticsearch",
}
# Scope of the Prometheus panels, chosen from the exporter's own labels.
SCOPE = 'project="$project", app=~"$app"'
# The API's own routes (its HTTP metrics), without its /metrics scrapes and unknown paths.
API_ROUTES = 'job="metamon-api", route!~"/metrics|unmatched"'


def datasource_variable(name: str, plugin: str, label: str) -> dashboard.DatasourceVariable:
    default = DEFAULT_UIDS[name]
    return (
        dashboard.DatasourceVariable(name)
        .label(label)
        .type(plugin)
        .current(VariableOption(selected=True, text=default, value=default))
    )


def scope_variables() -> list[cogbuilder.Builder]:
    """`project` (one) and `app` (any, All by default) from the series the exporter publishes."""
    project = (
        dashboard.QueryVariable("project")
        .label("Project")
        .datasource(PROMETHEUS)
        .query("label_values(metamon_requests_total, project)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    app = (
        dashboard.QueryVariable("app")
        .label("App")
        .datasource(PROMETHEUS)
        .query('label_values(metamon_requests_total{project="$project"}, app)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )
    return [project, app]


def base(uid: str, title: str, description: str, tags: list[str], datasources=()) -> dashboard.Dashboard:
    """A dashboard with its fixed UID, the Prometheus datasource variable, those of `datasources`
    ((name, plugin, label) each), and the scope variables."""
    built = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["metamon", *tags])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .with_variable(datasource_variable("datasource", "prometheus", "Prometheus"))
        # Every metamon dashboard links to the others, keeping the time range and the variables.
        .link(
            dashboard.DashboardLink("metamon")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["metamon"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    api_urls = [
        textbox_variable(
            API_URL_VARIABLE,
            "metamon API",
            API_URL_DEFAULT,
            "The API's address as the viewer's browser reaches it.",
        ),
        textbox_variable(
            API_SERVER_VARIABLE,
            "metamon API (from Grafana)",
            API_SERVER_DEFAULT,
            "The API's address as Grafana's server reaches it: where actions go, through the metamon-api "
            "datasource, which must allow this host.",
        ).hide(VariableHide.HIDE_VARIABLE),
    ]
    for variable in [datasource_variable(*d) for d in datasources] + scope_variables() + api_urls:
        built = built.with_variable(variable)
    return built


def promql(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).datasource(PROMETHEUS).legend_format(legend or "__auto")
    return query.instant() if instant else query.range()


def datasource_of(query) -> DataSourceRef:
    if isinstance(query, SqlQuery):
        return POSTGRES
    return ELASTICSEARCH if isinstance(query, elasticsearch.Dataquery) else PROMETHEUS


def with_ref(query, ref: str):
    """Grafana names each target of a panel by its refId (A, B…)."""
    return query if isinstance(query, SqlQuery) else query.ref_id(ref)


def timeseries_panel(title: str, description: str, unit: str, *queries, **limits) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).unit(unit)
    panel = panel.datasource(datasource_of(queries[0]))
    for ref, query in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(with_ref(query, ref))
    if "min" in limits:
        panel = panel.min(limits["min"])
    if "max" in limits:
        panel = panel.max(limits["max"])
    return panel.span(limits.get("span", 12)).height(8)


def _single_query_panel(kind, title: str, description: str, unit: str, query, span: int, height: int):
    return (
        kind.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(datasource_of(query))
        .with_target(with_ref(query, "A"))
        .span(span)
        .height(height)
    )


def stat_panel(title: str, description: str, unit: str, query, *, span: int = 4) -> stat.Panel:
    return _single_query_panel(stat, title, description, unit, query, span, 4)


def table_panel(
    title: str, description: str, unit: str, query, *, span: int = 24, height: int = 9
) -> table.Panel:
    return _single_query_panel(table, title, description, unit, query, span, height)


def barchart_panel(title: str, description: str, unit: str, query, *, span: int = 12) -> barchart.Panel:
    return _single_query_panel(barchart, title, description, unit, query, span, 8)


def bargauge_panel(title: str, description: str, unit: str, query, *, span: int = 12) -> bargauge.Panel:
    return _single_query_panel(bargauge, title, description, unit, query, span, 8)


def piechart_panel(title: str, description: str, unit: str, query, *, span: int = 8) -> piechart.Panel:
    return _single_query_panel(piechart, title, description, unit, query, span, 8)


def column(panel, *names: str, **properties):
    """Set field options of columns (fields) by name: their unit, data links (`links`), `actions`."""
    for name in names:
        panel = panel.override_by_name(
            name, [DynamicConfigValue(id_val=k, value=v) for k, v in properties.items()]
        )
    return panel


def data_link(title: str, url: str) -> dict:
    return {"title": title, "url": url, "targetBlank": True}


def custom_variable(name: str, label: str, values, *, default: str | None = None) -> dashboard.CustomVariable:
    """A fixed choice; several may be picked, All (every value) by default unless `default` names one."""
    variable = (
        dashboard.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .multi(default is None)
        .include_all(default is None)
    )
    if default is None:
        return variable.current(VariableOption(selected=True, text="All", value="$__all"))
    return variable.current(VariableOption(selected=True, text=default, value=default))


def sql_variable(name: str, label: str, sql: str, *, multi: bool = True, hide: bool = False):
    """Choices from PostgreSQL (`__value`/`__text` columns, or one column); All by default when multi."""
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(POSTGRES)
        .query(" ".join(sql.split()))
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )
    if hide:
        variable = variable.hide(VariableHide.HIDE_VARIABLE)
    if multi:
        variable = (
            variable.multi(True)
            .include_all(True)
            .current(VariableOption(selected=True, text="All", value="$__all"))
        )
    return variable


def terms_variable(name: str, label: str, field: str, *, all_value: str = "*"):
    """Choices from the values of an Elasticsearch keyword field, All (`all_value`, raw Lucene) by default."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(ELASTICSEARCH)
        .query(f'{{"find": "terms", "field": "{field}", "size": 100}}')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(all_value)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def textbox_variable(name: str, label: str, default: str, description: str) -> dashboard.TextBoxVariable:
    return (
        dashboard.TextBoxVariable(name)
        .label(label)
        .description(description)
        .default_value(default)
        .current(VariableOption(selected=True, text=default, value=default))
    )


class SqlTarget(cogvariants.Dataquery):
    """A query of Grafana's PostgreSQL datasource (the SDK has no builder for it)."""

    def __init__(self, raw_sql: str, format_val: str):
        self.raw_sql, self.format = raw_sql, format_val

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": POSTGRES.to_json(),
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "refId": "A",
        }


class SqlQuery(cogbuilder.Builder[SqlTarget]):
    def __init__(self, raw_sql: str, format_val: str = "table"):
        self.target = SqlTarget(" ".join(raw_sql.split()), format_val)

    def build(self) -> SqlTarget:
        return self.target


def lucene(query: str, *buckets, metric=None) -> elasticsearch.Dataquery:
    """An Elasticsearch query on the traces alias: buckets (terms, date histogram) and a metric (count)."""
    built = (
        elasticsearch.Dataquery()
        .query(query)
        .time_field("timestamp")
        .datasource(ELASTICSEARCH)
        .bucket_aggs(list(buckets))
        .metrics([metric or elasticsearch.Count().id("1")])
    )
    return built
