"""Run a Grafana panel target against the real backend its datasource names, as Grafana's datasource
would: Prometheus (query_range / query), Elasticsearch (the search Grafana's query builder makes from the
Lucene query and the metric and bucket aggregations) and PostgreSQL (rawSql, macros expanded, in a
read-only transaction). The answers come back as Grafana's two shapes: time series and tables."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import psycopg

from metamon.monitoring.dashboards.templating import (
    SCRAPE_SECONDS,
    Scope,
    expand_sql_macros,
    interpolate,
    seconds_of,
)
from metamon.monitoring.db.connect import connect
from metamon.monitoring.search.client import get_es
from metamon.monitoring.settings import Settings

PROMETHEUS_TYPES = {"prometheus"}
ELASTICSEARCH_TYPES = {"elasticsearch"}
POSTGRES_TYPES = {"grafana-postgresql-datasource", "postgres"}
# Grafana's terms aggregation size when the query leaves it unset, and its raw documents' size.
TERMS_SIZE, RAW_SIZE = 500, 500
HTTP_TIMEOUT = 30


@dataclass
class Series:
    name: str
    times: list[datetime]
    values: list[float | None]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Table:
    columns: list[str]
    rows: list[list]


@dataclass
class Answer:
    """What the targets of a panel returned, and what could not be done without Grafana."""

    series: list[Series] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: "Answer") -> None:
        self.series += other.series
        self.tables += other.tables
        self.notes += other.notes


class Backends:
    """The stack's Prometheus, Elasticsearch and PostgreSQL, as the settings name them."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.http = httpx.Client(base_url=settings.alerting.prometheus_url, timeout=HTTP_TIMEOUT)
        self.es = get_es(settings.search.url)
        self.index = settings.search.traces_index_alias
        self._db: psycopg.Connection | None = None

    def close(self) -> None:
        self.http.close()
        if self._db is not None:
            self._db.close()

    def _connection(self) -> psycopg.Connection:
        if self._db is None:
            self._db = connect(self.settings.database.url, autocommit=True)
        return self._db

    # --- Prometheus ---------------------------------------------------------------------------------
    def prometheus(self, target: dict, scope: Scope) -> Answer:
        expr = interpolate(target.get("expr", ""), scope, "prometheus")
        legend = target.get("legendFormat", "")
        end = scope.time.end.timestamp()
        if target.get("instant") and not target.get("range"):
            data = self._prometheus_get("/api/v1/query", {"query": expr, "time": end})
            results = [
                {"metric": r["metric"], "values": [r["value"]]} if "value" in r else r
                for r in _as_vectors(data)
            ]
        else:
            step = max(scope.interval_seconds, _min_step(target, scope))
            start = (scope.time.start.timestamp() // step) * step  # Grafana aligns the range to the step
            params = {"query": expr, "start": start, "end": end, "step": step}
            results = self._prometheus_get("/api/v1/query_range", params)["result"]
        series = [
            Series(
                name=_legend(legend, r["metric"], expr),
                times=[datetime.fromtimestamp(float(t), UTC) for t, _ in r["values"]],
                values=[_number(v) for _, v in r["values"]],
                labels=r["metric"],
            )
            for r in results
        ]
        return Answer(series=series)

    def _prometheus_get(self, path: str, params: dict) -> dict:
        try:
            response = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise QueryError(f"Prometheus at {self.settings.alerting.prometheus_url}: {exc}") from None
        body = (
            response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        )
        if response.status_code != 200 or body.get("status") != "success":
            raise QueryError(f"Prometheus: {body.get('error') or response.text[:200]}")
        return body["data"]

    def label_values(self, label: str, match: str | None, scope: Scope) -> list[str]:
        params = {"start": scope.time.start.timestamp(), "end": scope.time.end.timestamp()}
        if match:
            params["match[]"] = match
        return sorted(self._prometheus_get(f"/api/v1/label/{label}/values", params))

    def instant(self, expr: str, scope: Scope) -> list[dict]:
        return _as_vectors(
            self._prometheus_get("/api/v1/query", {"query": expr, "time": scope.time.end.timestamp()})
        )

    # --- PostgreSQL ---------------------------------------------------------------------------------
    def sql(self, raw: str, scope: Scope) -> tuple[list[str], list[tuple]]:
        statement = expand_sql_macros(interpolate(raw, scope, "sql"), scope)
        try:
            conn = self._connection()
            # The SQL comes from dashboard files: it may read, never write (as Grafana's SELECT-only role).
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(statement)
                columns = [c.name for c in cursor.description or []]
                return columns, cursor.fetchall()
        except psycopg.Error as exc:
            raise QueryError(f"PostgreSQL: {str(exc).strip().splitlines()[0]}") from None

    def postgres(self, target: dict, scope: Scope) -> Answer:
        columns, rows = self.sql(target.get("rawSql", ""), scope)
        if target.get("format") != "time_series":
            return Answer(tables=[Table(columns, [list(r) for r in rows])])
        return Answer(series=_sql_series(columns, rows))

    # --- Elasticsearch ------------------------------------------------------------------------------
    def elasticsearch(self, target: dict, scope: Scope) -> Answer:
        body = es_search_body(target, scope)
        try:
            result = self.es.search(index=self.index, **body)
        except Exception as exc:  # the client's errors carry the server's reason
            raise QueryError(f"Elasticsearch: {getattr(exc, 'message', exc)}") from None
        metrics = target.get("metrics") or [{"id": "1", "type": "count"}]
        if metrics[0]["type"] in ("raw_data", "raw_document", "logs"):
            return Answer(tables=[_documents(result["hits"]["hits"])])
        return es_answer(result.get("aggregations", {}), target.get("bucketAggs", []), metrics)

    def es_terms(self, field_name: str, query: str, scope: Scope) -> list[str]:
        body = es_search_body(
            {
                "query": query,
                "bucketAggs": [
                    {"id": "1", "type": "terms", "field": field_name, "settings": {"size": "500"}}
                ],
            },
            scope,
        )
        result = self.es.search(index=self.index, **body)
        return [str(b["key"]) for b in result["aggregations"]["1"]["buckets"]]


class QueryError(Exception):
    """A backend refused a query: its own message, shown on the panel."""


def _as_vectors(data: dict) -> list[dict]:
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return data["result"]


def _min_step(target: dict, scope: Scope) -> float:
    interval = target.get("interval") or ""
    return seconds_of(interpolate(interval, scope, "prometheus")) if interval else SCRAPE_SECONDS


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: a gap, as Grafana draws it


def _legend(legend: str, labels: dict, expr: str) -> str:
    if legend and legend != "__auto":
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), legend)
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not shown:
        return labels.get("__name__", expr)
    return labels.get("__name__", "") + "{" + ", ".join(f'{k}="{v}"' for k, v in shown.items()) + "}"


def _sql_series(columns: list[str], rows: list[tuple]) -> list[Series]:
    """Grafana's time_series format: a `time` column, an optional `metric` column naming the series,
    every other numeric column a value."""
    if "time" not in columns:
        raise QueryError("PostgreSQL: a time_series query needs a column named time")
    t, metric = columns.index("time"), columns.index("metric") if "metric" in columns else None
    value_columns = [i for i in range(len(columns)) if i not in (t, metric)]
    found: dict[str, Series] = {}
    for row in rows:
        moment = row[t] if isinstance(row[t], datetime) else datetime.fromtimestamp(float(row[t]), UTC)
        for i in value_columns:
            name = str(row[metric]) if metric is not None else columns[i]
            if metric is not None and len(value_columns) > 1:
                name = f"{row[metric]} {columns[i]}"
            series = found.setdefault(name, Series(name, [], []))
            series.times.append(moment)
            series.values.append(_number(row[i]))
    return list(found.values())


def _bucket_agg(bucket: dict, scope: Scope, metrics: list[dict]) -> dict:
    settings = bucket.get("settings", {})
    kind = bucket["type"]
    if kind == "terms":
        # Grafana's backend (data_query.go): size 500 unless set (0 too), ES's own order and
        # min_doc_count unless set.
        terms = {"field": bucket["field"], "size": int(settings.get("size") or TERMS_SIZE) or TERMS_SIZE}
        if "min_doc_count" in settings:
            terms["min_doc_count"] = int(settings["min_doc_count"])
        order_by = settings.get("orderBy")
        agg: dict = {"terms": terms}
        if order_by:
            terms["order"] = {"_key" if order_by == "_term" else order_by: settings.get("order", "desc")}
            ordered = [m for m in metrics if m["id"] == order_by and _metric_agg(m)]
            if ordered:  # ordering by a metric needs that metric inside the terms aggregation
                agg["aggs"] = {m["id"]: _metric_agg(m) for m in ordered}
        return agg
    if kind == "date_histogram":
        interval = settings.get("interval", "auto")
        fixed = scope.interval_seconds if interval in ("auto", "$__interval") else None
        return {
            "date_histogram": {
                "field": bucket["field"],
                "fixed_interval": f"{int(fixed)}s" if fixed else interpolate(interval, scope, "lucene"),
                "min_doc_count": int(settings.get("min_doc_count", 0)),
                "extended_bounds": {
                    "min": int(scope.time.start.timestamp() * 1000),
                    "max": int(scope.time.end.timestamp() * 1000),
                },
                "format": "epoch_millis",
            }
        }
    if kind == "histogram":
        return {
            "histogram": {
                "field": bucket["field"],
                "interval": float(settings.get("interval", 1000)),
                "min_doc_count": int(settings.get("min_doc_count", 0)),
            }
        }
    if kind == "filters":
        filters = {
            f.get("label") or f["query"]: {
                "query_string": {"query": interpolate(f["query"], scope, "lucene"), "analyze_wildcard": True}
            }
            for f in settings.get("filters", [{"query": "*"}])
        }
        return {"filters": {"filters": filters}}
    raise QueryError(f"Elasticsearch: the {kind} bucket aggregation is not drawn by the preview")


def _metric_agg(metric: dict) -> dict | None:
    kind, settings = metric["type"], metric.get("settings", {})
    if kind == "count":
        return None  # every bucket's doc_count
    if kind in ("avg", "sum", "min", "max", "cardinality", "value_count", "extended_stats"):
        return {kind: {"field": metric["field"]}}
    if kind == "percentiles":
        percents = [float(p) for p in settings.get("percents", ["25", "50", "75", "95", "99"])]
        return {"percentiles": {"field": metric["field"], "percents": percents}}
    raise QueryError(f"Elasticsearch: the {kind} metric is not drawn by the preview")


def es_search_body(target: dict, scope: Scope) -> dict:
    """The search Grafana's Elasticsearch datasource sends for a target: the Lucene query within the time
    range, the bucket aggregations nested in their order, the metrics inside the innermost."""
    time_field = target.get("timeField", "timestamp")
    time_range = {
        "range": {
            time_field: {
                "gte": int(scope.time.start.timestamp() * 1000),
                "lte": int(scope.time.end.timestamp() * 1000),
                "format": "epoch_millis",
            }
        }
    }
    # An empty query (a free-text variable left blank) matches everything, as in Grafana.
    query = interpolate(target.get("query") or "", scope, "lucene").strip() or "*"
    filters = [time_range, {"query_string": {"query": query, "analyze_wildcard": True}}]
    body: dict = {"size": 0, "query": {"bool": {"filter": filters}}}
    metrics = target.get("metrics") or [{"id": "1", "type": "count"}]
    if metrics[0]["type"] in ("raw_data", "raw_document", "logs"):
        size = int(metrics[0].get("settings", {}).get("size") or RAW_SIZE)
        return body | {"size": size, "sort": [{time_field: {"order": "desc"}}]}
    aggs: dict = {}
    inner = aggs
    for bucket in target.get("bucketAggs", []):
        agg = _bucket_agg(bucket, scope, metrics)
        inner[bucket["id"]] = agg
        inner = agg.setdefault("aggs", {})
    for metric in metrics:
        if (agg := _metric_agg(metric)) is not None:
            inner[metric["id"]] = agg
    return body | {"aggs": aggs}


def _metric_values(bucket: dict, metric: dict) -> dict[str, float | None]:
    kind = metric["type"]
    if kind == "count":
        return {"Count": float(bucket["doc_count"])}
    value = bucket.get(metric["id"], {})
    if kind == "percentiles":
        return {f"p{float(k):g} {metric['field']}": _number(v) for k, v in value.get("values", {}).items()}
    if kind == "extended_stats":
        return {
            f"{s} {metric['field']}": _number(value.get(s)) for s in ("avg", "min", "max", "std_deviation")
        }
    return {f"{kind.capitalize()} {metric['field']}": _number(value.get("value"))}


def _bucket_key(bucket: dict) -> str:
    return str(bucket.get("key_as_string", bucket.get("key")))


def es_answer(aggregations: dict, buckets: list[dict], metrics: list[dict]) -> Answer:
    """Grafana's reading of the aggregations: a date histogram innermost gives one series per metric and
    combination of the outer bucket keys; without one, a table of the bucket keys and metric values."""
    histogram = bool(buckets) and buckets[-1]["type"] == "date_histogram"
    answer = Answer()
    table_rows: list[list] = []
    metric_names: list[str] = []

    def walk(level: int, aggs: dict, keys: list[str]) -> None:
        bucket_def = buckets[level]
        found = aggs[bucket_def["id"]]["buckets"]
        entries = found.items() if isinstance(found, dict) else [(_bucket_key(b), b) for b in found]
        if level == len(buckets) - 1 and histogram:
            per_metric: dict[str, Series] = {}
            for _, bucket in entries:
                moment = datetime.fromtimestamp(bucket["key"] / 1000, UTC)
                for name, value in _metric_values_all(bucket, metrics).items():
                    label = " ".join([*keys, name]) if len(metrics) > 1 or not keys else " ".join(keys)
                    series = per_metric.setdefault(label, Series(label, [], []))
                    series.times.append(moment)
                    series.values.append(value)
            answer.series.extend(per_metric.values())
            return
        for key, bucket in entries:
            if level == len(buckets) - 1:
                values = _metric_values_all(bucket, metrics)
                for name in values:
                    if name not in metric_names:
                        metric_names.append(name)
                table_rows.append([*keys, key, values])
            else:
                walk(level + 1, bucket, [*keys, key])

    if not buckets:
        return answer
    walk(0, aggregations, [])
    if not histogram:
        columns = [b.get("field") or b["type"] for b in buckets] + metric_names
        rows = [[*r[:-1], *(r[-1].get(n) for n in metric_names)] for r in table_rows]
        answer.tables.append(Table(columns, rows))
    return answer


def _metric_values_all(bucket: dict, metrics: list[dict]) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for metric in metrics:
        if not metric.get("hide"):
            values |= _metric_values(bucket, metric)
    return values


def _documents(hits: list[dict]) -> Table:
    columns: list[str] = []
    for hit in hits:
        columns += [c for c in hit["_source"] if c not in columns]
    return Table(columns, [[hit["_source"].get(c) for c in columns] for hit in hits])
