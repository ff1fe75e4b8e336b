"""`metamon dashboards preview`: every dashboard's panels run their own queries against the real
backends and are drawn into one PNG per dashboard. No Grafana server runs here; this is generic over the
dashboard JSON, so a new dashboard renders without new code. What only Grafana could do is said on the
panel it concerns."""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from metamon.monitoring.dashboards.backends import (
    ELASTICSEARCH_TYPES,
    POSTGRES_TYPES,
    PROMETHEUS_TYPES,
    Answer,
    Backends,
    QueryError,
)
from metamon.monitoring.dashboards.picture import GRID_COLUMNS, WIDTH_PX, draw
from metamon.monitoring.dashboards.render import rendered
from metamon.monitoring.dashboards.templating import Scope, TimeRange, Variable, interpolate, parse_time
from metamon.monitoring.settings import Settings

# Variables Grafana resolves from its own state, not from a datasource.
GRAFANA_ONLY_DATASOURCES = {
    "-- Grafana --",
    "grafana",
    "-- Dashboard --",
    "datasource",
    "-- Mixed --",
    "__expr__",
}


@dataclass
class PanelResult:
    title: str
    type: str
    answer: Answer
    drawn: dict = field(default_factory=dict)  # what the picture shows: series, rows, values


@dataclass
class DashboardResult:
    uid: str
    title: str
    path: Path
    variables: dict[str, str]
    panels: list[PanelResult]


def dashboards_json(directory: Path | None = None) -> list[dict]:
    """The dashboards as the code renders them (what the package provisions), or the JSON files of a
    folder (a Grafana export, say)."""
    if directory is None:
        return [json.loads(text) for _, text in sorted(rendered().items())]
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def _panels(dashboard: dict) -> list[dict]:
    """Every panel, the ones inside collapsed rows included, in grid order."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found += panel.get("panels", []) if panel.get("type") == "row" else []
    return sorted(found, key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))


def _current(variable: dict) -> list[str] | None:
    value = (variable.get("current") or {}).get("value")
    if value in (None, "", []):
        return None
    return value if isinstance(value, list) else [value]


def _options(variable: dict, backends: Backends, scope: Scope) -> list[str]:
    """The values a query or custom variable offers, as its datasource lists them."""
    kind = variable.get("type")
    if kind == "custom":
        return [o["value"] for o in variable.get("options", [])] or [
            v.strip() for v in str(variable.get("query", "")).split(",") if v.strip()
        ]
    if kind != "query":
        return []
    source = (variable.get("datasource") or {}).get("type", "prometheus")
    query = variable.get("query")
    query = query.get("query", "") if isinstance(query, dict) else str(query or "")
    if source in PROMETHEUS_TYPES:
        query = interpolate(query, scope, "prometheus")
        values = _prometheus_options(query, backends, scope)
    elif source in POSTGRES_TYPES:
        values = [str(r[0]) for r in backends.sql(query, scope)[1]]
    elif source in ELASTICSEARCH_TYPES:
        spec = json.loads(interpolate(query, scope, "lucene"))
        values = backends.es_terms(spec["field"], spec.get("query") or "*", scope)
    else:
        raise QueryError(f"variable {variable['name']}: only Grafana answers a {source} variable query")
    if variable.get("regex"):
        pattern = re.compile(variable["regex"].strip("/"))
        values = [(m.group(1) if m.groups() else v) for v in values if (m := pattern.search(v))]
    return list(dict.fromkeys(values))


def _prometheus_options(query: str, backends: Backends, scope: Scope) -> list[str]:
    if match := re.fullmatch(r"\s*label_values\(\s*(?:(.+),\s*)?(\w+)\s*\)\s*", query):
        return backends.label_values(match.group(2), match.group(1), scope)
    if match := re.fullmatch(r"\s*query_result\((.+)\)\s*", query):
        return [json.dumps(r["metric"]) for r in backends.instant(match.group(1), scope)]
    raise QueryError(f"only Grafana answers the variable query {query!r}")


def resolve_variables(dashboard: dict, backends: Backends, scope: Scope, chosen: dict[str, str]) -> list[str]:
    """Give every variable the value Grafana would open the dashboard with (its saved current value, else
    its first option), or the one chosen on the command line. Fills scope.variables; returns notes."""
    notes = []
    for variable in dashboard.get("templating", {}).get("list", []):
        name, kind = variable["name"], variable.get("type")
        if kind == "datasource":
            continue  # each panel's target names its datasource type; the provisioned one answers
        multi = bool(variable.get("multi") or variable.get("includeAll"))
        if name in chosen:
            values = chosen[name].split(",") if multi else [chosen[name]]
        elif kind in ("textbox", "constant"):
            values = _current(variable) or [str(variable.get("query", ""))]
        else:
            values = _current(variable)
        all_value = None
        try:
            if values == ["$__all"] or (values is None and kind in ("query", "custom")):
                options = _options(variable, backends, scope)
                if values == ["$__all"]:
                    all_value = variable.get("allValue") or None
                    values = options or [".*"]
                else:
                    values = options[:1]
        except (QueryError, ValueError) as exc:
            notes.append(f"${name}: {exc}")
            values = values if values and values != ["$__all"] else []
        text = (
            "All"
            if all_value is not None or (chosen.get(name) is None and _current(variable) == ["$__all"])
            else ""
        )
        scope.variables[name] = Variable(name, values or [], multi=multi, all_value=all_value, text=text)
    return notes


def _max_points(panel: dict) -> int:
    # Grafana asks for as many points as the panel is pixels wide (or its maxDataPoints).
    return int(panel.get("maxDataPoints") or panel["gridPos"]["w"] * WIDTH_PX / GRID_COLUMNS)


def run_panel(panel: dict, backends: Backends, time: TimeRange, variables: dict[str, Variable]) -> Answer:
    """Every target of the panel, against the backend of its datasource type."""
    answer = Answer()
    panel_source = (panel.get("datasource") or {}).get("type")
    scope = Scope(time, time.interval(_max_points(panel)), variables)
    for target in panel.get("targets", []):
        if target.get("hide"):
            continue
        source = (target.get("datasource") or {}).get("type") or panel_source or "prometheus"
        try:
            if source in PROMETHEUS_TYPES:
                answer.extend(backends.prometheus(target, scope))
            elif source in ELASTICSEARCH_TYPES:
                answer.extend(backends.elasticsearch(target, scope))
            elif source in POSTGRES_TYPES:
                answer.extend(backends.postgres(target, scope))
            else:
                what = "Grafana itself" if source in GRAFANA_ONLY_DATASOURCES else f"a {source} datasource"
                answer.notes.append(f"{target.get('refId', '?')}: only {what} answers this query")
        except (QueryError, ValueError) as exc:
            answer.notes.append(f"{target.get('refId', '?')}: {exc}")
    skipped = [t.get("id", "?") for t in panel.get("transformations", []) if not _transform(answer, t)]
    if skipped:
        answer.notes.append(f"Grafana transformations not applied: {', '.join(skipped)}")
    return answer


def _transform(answer: Answer, transformation: dict) -> bool:
    """Apply the one transformation the preview knows, Grafana's filterFieldsByName with a list of
    names (the table keeps those columns, in its own order); False for any other."""
    names = ((transformation.get("options") or {}).get("include") or {}).get("names")
    if transformation.get("id") != "filterFieldsByName" or not names:
        return False
    for table in answer.tables:
        keep = [i for i, column in enumerate(table.columns) if column in names]
        table.columns = [table.columns[i] for i in keep]
        table.rows = [[row[i] for i in keep] for row in table.rows]
    return True


def preview(
    settings: Settings,
    out: Path,
    start: str | None = None,
    end: str | None = None,
    chosen: dict[str, str] | None = None,
    directory: Path | None = None,
) -> list[DashboardResult]:
    """Render every dashboard into out/<uid>.png; `start`/`end` default to each dashboard's own range."""
    now = datetime.now(UTC)
    for given in (start, end):  # refuse a bad time before any query runs
        if given is not None:
            parse_time(given, now)
    out.mkdir(parents=True, exist_ok=True)
    backends = Backends(settings)
    results = []
    try:
        for dashboard in dashboards_json(directory):
            saved = dashboard.get("time") or {}
            time = TimeRange(
                parse_time(start or saved.get("from", "now-6h"), now),
                parse_time(end or saved.get("to", "now"), now),
            )
            scope = Scope(time, time.interval(int(WIDTH_PX)), {})
            notes = resolve_variables(dashboard, backends, scope, chosen or {})
            panels = [
                PanelResult(
                    p.get("title", ""),
                    p.get("type", ""),
                    Answer() if p.get("type") == "row" else run_panel(p, backends, time, scope.variables),
                )
                for p in _panels(dashboard)
            ]
            path = out / f"{dashboard.get('uid') or dashboard['title']}.png"
            shown = {n: v.shown for n, v in scope.variables.items()}
            drawn = draw(dashboard, _panels(dashboard), panels, time, shown, notes, path)
            for panel, what in zip(panels, drawn, strict=True):
                panel.drawn = what
            results.append(DashboardResult(dashboard.get("uid", ""), dashboard["title"], path, shown, panels))
    finally:
        backends.close()
    return results
