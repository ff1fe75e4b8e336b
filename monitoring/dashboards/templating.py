"""What Grafana does to a query before its datasource sees it, for the dashboards preview: the time range
and interval, the dashboard variables formatted the way each datasource type expects, and the SQL macros
of the PostgreSQL datasource. Written from Grafana's documentation of variables and macros."""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Grafana's relative times: now, now-6h, now-7d/d (the rounding suffix is ignored here).
_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdwMy]))?(?:/[smhdwMy])?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}
# The steps Grafana rounds $__interval to (kbn.roundInterval), in seconds; the preview rounds up.
_NICE_SECONDS = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400, 604800)
# The scrape interval of the provisioned Prometheus datasource (jsonData.timeInterval).
SCRAPE_SECONDS = 15


def parse_time(text: str, now: datetime) -> datetime:
    """`now`, `now-6h` … or an ISO 8601 time (UTC when it has no offset)."""
    if match := _RELATIVE.match(text.strip()):
        amount, unit = match.groups()
        return now - timedelta(seconds=int(amount or 0) * _UNIT_SECONDS.get(unit or "s", 1))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use now, now-6h, now-7d or an ISO 8601 time)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def seconds_of(text: str) -> float:
    """`15s`, `5m`, `1h`, `1d` -> seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|[smhdwMy])", text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    amount, unit = match.groups()
    return float(amount) / 1000 if unit == "ms" else float(amount) * _UNIT_SECONDS[unit]


def duration(seconds: float) -> str:
    """Seconds -> the shortest Grafana duration that says it (1d, 6h, 5m, 15s)."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNIT_SECONDS[unit] and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{int(seconds // _UNIT_SECONDS[unit])}{unit}"
    return f"{max(1, int(seconds))}s"


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def interval(self, max_points: int, min_seconds: float = 1) -> float:
        """$__interval: the range over the points the panel has room for, rounded up to one of the steps
        Grafana rounds to."""
        raw = max(self.seconds / max(max_points, 1), min_seconds)
        return next((s for s in _NICE_SECONDS if s >= raw), _NICE_SECONDS[-1])


@dataclass
class Variable:
    """A resolved dashboard variable: the selected values, and the value for All if one is set."""

    name: str
    values: list[str]
    multi: bool = False
    all_value: str | None = None  # set when All is selected and the variable has a custom all value
    text: str = ""

    @property
    def shown(self) -> str:
        return self.text or ", ".join(self.values)


@dataclass
class Scope:
    """Everything interpolation needs: the time range, the panel's interval and the variables."""

    time: TimeRange
    interval_seconds: float
    variables: dict[str, Variable] = field(default_factory=dict)

    @property
    def rate_interval_seconds(self) -> float:
        # Grafana: max($__interval + scrape interval, 4 x scrape interval).
        return max(self.interval_seconds + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)

    def builtins(self) -> dict[str, str]:
        start_ms, end_ms = int(self.time.start.timestamp() * 1000), int(self.time.end.timestamp() * 1000)
        return {
            "__interval": duration(self.interval_seconds),
            "__interval_ms": str(int(self.interval_seconds * 1000)),
            "__rate_interval": duration(self.rate_interval_seconds),
            "__range": duration(self.time.seconds),
            "__range_s": str(int(self.time.seconds)),
            "__range_ms": str(int(self.time.seconds * 1000)),
            "__from": str(start_ms),
            "__to": str(end_ms),
        }


def _regex_escape(value: str) -> str:
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", value)


def _lucene_escape(value: str) -> str:
    return re.sub(r'([+\-=&|><!(){}\[\]^"~*?:\\/ ])', r"\\\1", value)


def _sql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Each datasource type's default format of a variable (Grafana's interpolateVariable of each plugin).
def _prometheus(variable: Variable) -> str:
    if not variable.multi:
        return variable.values[0].replace("\\", "\\\\").replace("'", "\\'")
    escaped = [_regex_escape(v) for v in variable.values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _sql(variable: Variable) -> str:
    if not variable.multi:
        return variable.values[0]
    return ",".join(_sql_quote(v) for v in variable.values)


def _lucene(variable: Variable) -> str:
    if not variable.multi:
        return variable.values[0]
    quoted = ['"' + _lucene_escape(v) + '"' for v in variable.values]
    return quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"


DEFAULT_FORMATS = {"prometheus": _prometheus, "sql": _sql, "lucene": _lucene}

# The named formats of ${name:format}.
NAMED_FORMATS = {
    "raw": lambda vs: ",".join(vs),
    "csv": lambda vs: ",".join(vs),
    "pipe": lambda vs: "|".join(vs),
    "regex": lambda vs: vs[0] if len(vs) == 1 else "(" + "|".join(_regex_escape(v) for v in vs) + ")",
    "singlequote": lambda vs: ",".join("'" + v.replace("'", "\\'") + "'" for v in vs),
    "doublequote": lambda vs: ",".join('"' + v.replace('"', '\\"') + '"' for v in vs),
    "sqlstring": lambda vs: ",".join(_sql_quote(v) for v in vs),
    "json": lambda vs: json.dumps(vs if len(vs) > 1 else vs[0]),
    "lucene": lambda vs: _lucene(Variable("", vs, multi=True)),
    "text": lambda vs: ",".join(vs),
}

_REFERENCE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")


def interpolate(text: str, scope: Scope, dialect: str) -> str:
    """Replace $name, ${name}, ${name:format} and [[name]] as Grafana would for a datasource of
    `dialect` (prometheus, sql, lucene). Unknown names stay as they are, as in Grafana."""
    builtins = scope.builtins()

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(3) or match.group(5)
        form = match.group(2) or match.group(4)
        if name in builtins:
            return builtins[name]
        variable = scope.variables.get(name)
        if variable is None or not variable.values:
            return match.group(0)
        if form == "text":
            return variable.shown
        if variable.all_value is not None and form in (None, "raw"):
            return variable.all_value
        if form in NAMED_FORMATS:
            return NAMED_FORMATS[form](variable.values)
        return DEFAULT_FORMATS[dialect](variable)

    return _REFERENCE.sub(replace, text)


def _sql_time(moment: datetime) -> str:
    return "'" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def _group_seconds(argument: str, scope: Scope) -> float:
    argument = argument.strip().strip("'\"")
    if argument in ("$__interval", "auto", "${__interval}"):
        return scope.interval_seconds
    return seconds_of(argument)


_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")


def expand_sql_macros(sql: str, scope: Scope) -> str:
    """The PostgreSQL datasource's macros ($__timeFilter(col), $__timeGroupAlias(col, 5m) …), as its
    documentation defines them. An unknown macro raises: the query could not run as written."""
    start, end = scope.time.start, scope.time.end

    def replace(match: re.Match) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")] if match.group(2) else []
        column = args[0] if args else ""
        if name == "time":
            return f'{column} AS "time"'
        if name == "timeEpoch":
            return f'extract(epoch from {column}) AS "time"'
        if name == "timeFilter":
            return f"{column} BETWEEN {_sql_time(start)} AND {_sql_time(end)}"
        if name == "timeFrom":
            return _sql_time(start)
        if name == "timeTo":
            return _sql_time(end)
        if name in ("timeGroup", "timeGroupAlias"):
            seconds = _group_seconds(args[1], scope)
            grouped = f"floor(extract(epoch from {column})/{seconds:g})*{seconds:g}"
            return grouped + (' AS "time"' if name == "timeGroupAlias" else "")
        if name == "unixEpochFilter":
            return f"{column} >= {int(start.timestamp())} AND {column} <= {int(end.timestamp())}"
        if name == "unixEpochNanoFilter":
            return f"{column} >= {int(start.timestamp() * 1e9)} AND {column} <= {int(end.timestamp() * 1e9)}"
        if name == "unixEpochFrom":
            return str(int(start.timestamp()))
        if name == "unixEpochTo":
            return str(int(end.timestamp()))
        if name in ("unixEpochGroup", "unixEpochGroupAlias"):
            seconds = _group_seconds(args[1], scope)
            grouped = f"floor({column}/{seconds:g})*{seconds:g}"
            return grouped + (' AS "time"' if name == "unixEpochGroupAlias" else "")
        raise ValueError(f"the SQL macro $__{name} is not one of the PostgreSQL datasource's")

    return _MACRO.sub(replace, sql)
