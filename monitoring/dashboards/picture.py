"""Draw a dashboard as Grafana lays it out: each panel at its gridPos (24 columns), with its title, unit
and legend, from what its queries returned. Matplotlib's Agg backend, no pyplot state. Each drawing
function returns what it drew (series, rows, values), so a test can hold the picture to the data."""

import json
import math
from datetime import datetime
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import is_color_like
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from PIL import Image

from metamon.monitoring.dashboards.backends import Answer, Series, Table
from metamon.monitoring.dashboards.templating import TimeRange

GRID_COLUMNS = 24
WIDTH_PX = 1280
ROW_PX = 34  # one grid unit of height: Grafana's 30 px cell and its margin, a little tighter
HEADER_PX = 44
DPI = 80
MARGIN = 4
# Grafana's dark theme and its classic palette.
BACKGROUND, PANEL, BORDER, TEXT, MUTED, WARN = (
    "#111217",
    "#181b1f",
    "#2c3235",
    "#ccccdc",
    "#8e8e9e",
    "#f2cc0c",
)
PALETTE = ("#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#ffb357", "#96d98d")
NAMED_COLORS = {
    "green": "#73bf69",
    "red": "#f2495c",
    "yellow": "#fade2a",
    "orange": "#ff9830",
    "blue": "#5794f2",
    "purple": "#b877d9",
    "dark-red": "#c4162a",
    "dark-green": "#37872d",
    "dark-yellow": "#e0b400",
    "dark-orange": "#fa6400",
    "text": TEXT,
    "transparent": PANEL,
}
# PNGs are quantised to this many colours: a dashboard is flat colour, and README's pictures stay small.
PNG_COLOURS = 64


# --- units ----------------------------------------------------------------------------------------------
def _number(value: float, decimals: int | None = None) -> str:
    if decimals is not None:
        return f"{value:.{decimals}f}"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.3g} Bil"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g} Mil"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g} K"
    if magnitude == 0 or magnitude >= 1:
        return f"{value:.4g}" if magnitude < 1000 else f"{value:.0f}"
    return f"{value:.3g}"


def _duration(seconds: float) -> str:
    magnitude = abs(seconds)
    for limit, divisor, suffix in ((86400, 86400, " day"), (3600, 3600, " hour"), (60, 60, " min")):
        if magnitude >= limit:
            return f"{seconds / divisor:.3g}{suffix}"
    if magnitude >= 1 or magnitude == 0:
        return f"{seconds:.3g} s"
    return f"{seconds * 1000:.3g} ms"


def formatted(value, unit: str | None, decimals: int | None = None) -> str:
    """A value as Grafana shows it in `unit` (the unit ids the dashboards use; others become a suffix)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if not isinstance(value, int | float):
        return _cell(value)
    unit = unit or "short"
    if unit == "percentunit":
        return f"{value * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "percent":
        return f"{value:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        return _duration(value)
    if unit == "ms":
        return _duration(value / 1000)
    if unit == "currencyUSD":
        return (
            f"${value:,.{4 if 0 < abs(value) < 1 else 2}f}" if decimals is None else f"${value:,.{decimals}f}"
        )
    if unit == "bool":
        return "true" if value else "false"
    if unit == "bytes":
        for size, suffix in ((2**30, " GiB"), (2**20, " MiB"), (2**10, " KiB")):
            if abs(value) >= size:
                return f"{value / size:.3g}{suffix}"
        return f"{value:.0f} B"
    suffixes = {"reqps": " req/s", "ops": " ops/s", "short": "", "none": "", "dtdurations": ""}
    if unit == "dtdurations":
        return _duration(value)
    if unit.startswith("suffix:"):
        return _number(value, decimals) + unit.removeprefix("suffix:")
    return _number(value, decimals) + suffixes.get(unit, f" {unit}")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


# --- data shapes ----------------------------------------------------------------------------------------
def _numeric_columns(table: Table) -> list[int]:
    return [
        i
        for i in range(len(table.columns))
        if any(isinstance(r[i], int | float) and not isinstance(r[i], bool) for r in table.rows)
        and all(r[i] is None or isinstance(r[i], int | float) for r in table.rows)
    ]


def _time_column(table: Table) -> int | None:
    return next(
        (i for i in range(len(table.columns)) if table.rows and isinstance(table.rows[0][i], datetime)), None
    )


def series_of(answer: Answer) -> list[Series]:
    """Time series to draw: the series, and every table with a time column (each numeric column a line)."""
    found = list(answer.series)
    for table in answer.tables:
        t = _time_column(table)
        if t is None:
            continue
        for i in _numeric_columns(table):
            rows = sorted(table.rows, key=lambda r: r[t])
            found.append(Series(table.columns[i], [r[t] for r in rows], [r[i] for r in rows]))
    return found


def reduce(values: list, calc: str) -> float | None:
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {
        "lastNotNull": present[-1],
        "last": present[-1],
        "firstNotNull": present[0],
        "first": present[0],
        "mean": sum(present) / len(present),
        "sum": sum(present),
        "max": max(present),
        "min": min(present),
        "count": float(len(present)),
        "range": max(present) - min(present),
    }.get(calc, present[-1])


def reduced(panel: dict, answer: Answer) -> list[tuple[str, float | None]]:
    """(name, value) pairs as a stat, gauge or pie panel shows them (options.reduceOptions)."""
    options = panel.get("options", {}).get("reduceOptions", {})
    calc = (options.get("calcs") or ["lastNotNull"])[0]
    pairs = [(s.name, reduce(s.values, calc)) for s in answer.series]
    for table in answer.tables:
        numeric = _numeric_columns(table)
        text = [i for i in range(len(table.columns)) if i not in numeric and i != _time_column(table)]
        if options.get("values"):  # every row its own value, named by its text columns
            for row in table.rows[: int(options.get("limit") or 100)]:
                name = " ".join(_cell(row[i]) for i in text)
                pairs += [(name or table.columns[i], row[i]) for i in numeric]
        else:
            pairs += [(table.columns[i], reduce([r[i] for r in table.rows], calc)) for i in numeric]
    return pairs


def table_of(answer: Answer) -> Table | None:
    """The table a table panel shows: the first table frame, or one row per series (its labels, its last
    value) as Grafana shows an instant query."""
    if answer.tables:
        return answer.tables[0]
    if not answer.series:
        return None
    labels = list(dict.fromkeys(k for s in answer.series for k in s.labels if k != "__name__"))
    rows = [[*(s.labels.get(k, "") for k in labels), reduce(s.values, "lastNotNull")] for s in answer.series]
    return Table([*labels, "Value"], rows)


# --- drawing --------------------------------------------------------------------------------------------
class Canvas:
    """The figure, in Grafana's pixel coordinates (y down from the top)."""

    def __init__(self, height_px: float):
        self.width, self.height = WIDTH_PX, height_px
        self.figure = Figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, facecolor=BACKGROUND)
        self.text_axes = self.figure.add_axes((0, 0, 1, 1))
        self.text_axes.set_xlim(0, WIDTH_PX)
        self.text_axes.set_ylim(height_px, 0)
        self.text_axes.axis("off")

    def text(self, x: float, y: float, text: str, **style) -> None:
        style = {"color": TEXT, "fontsize": 8, "va": "top", "ha": "left", "clip_on": True} | style
        self.text_axes.text(x, y, text, **style)

    def rect(self, x: float, y: float, w: float, h: float, **style) -> None:
        from matplotlib.patches import Rectangle

        style = {"facecolor": PANEL, "edgecolor": BORDER, "linewidth": 1} | style
        self.text_axes.add_patch(Rectangle((x, y), w, h, **style))

    def axes(self, x: float, y: float, w: float, h: float):
        ax = self.figure.add_axes(
            (x / self.width, 1 - (y + h) / self.height, w / self.width, h / self.height)
        )
        ax.set_facecolor(PANEL)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.tick_params(colors=MUTED, labelsize=7, length=0)
        ax.grid(True, color=BORDER, linewidth=0.6)
        ax.set_axisbelow(True)  # bars over the grid, as in Grafana
        return ax


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "…"


def _threshold_color(panel: dict, value: float | None) -> str:
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps") or []
    color = "green"
    for step in steps:
        if step.get("value") is None or (value is not None and value >= step["value"]):
            color = step.get("color", color)
    color = NAMED_COLORS.get(color, color)
    return color if is_color_like(color) else PALETTE[0]


def _timeseries(canvas: Canvas, box, panel: dict, answer: Answer, time: TimeRange, unit: str) -> dict:
    x, y, w, h = box
    series = series_of(answer)
    if not series:
        canvas.text(x + w / 2, y + h / 2, "No data", ha="center", va="center", color=MUTED, fontsize=10)
        return {"series": 0, "points": 0}
    per_row = max(1, int(w // 170))
    legend_rows = min(math.ceil(len(series) / per_row), 3)
    shown = min(len(series), legend_rows * per_row)
    ax = canvas.axes(x + 52, y + 4, w - 60, h - 26 - legend_rows * 12)
    points = 0
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        values = [math.nan if v is None else v for v in s.values]
        points += sum(1 for v in s.values if v is not None)
        ax.plot(
            s.times,
            values,
            color=color,
            linewidth=1.2,
            marker="o" if len(values) == 1 else None,
            markersize=3,
        )
        if i < shown:
            label = _clip(s.name, 26) if i < shown - 1 or shown == len(series) else f"+{len(series) - i} more"
            row, column = divmod(i, per_row)
            top = y + h - legend_rows * 12 + row * 12
            canvas.rect(x + 6 + column * 170, top + 4, 10, 3, facecolor=color, linewidth=0)
            canvas.text(x + 20 + column * 170, top, label, fontsize=7)
    ax.set_xlim(time.start, time.end)
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=max(3, int(w // 110))))
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M" if time.seconds > 86400 else "%H:%M"))
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=unit == "bool"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: formatted(v, unit)))
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    if defaults.get("min") is not None or defaults.get("max") is not None:
        ax.set_ylim(defaults.get("min"), defaults.get("max"))
    return {"series": len(ax.lines), "points": points}


def _stat(canvas: Canvas, box, panel: dict, answer: Answer, unit: str) -> dict:
    x, y, w, h = box
    pairs = reduced(panel, answer)
    if not pairs:
        canvas.text(x + w / 2, y + h / 2, "No data", ha="center", va="center", color=MUTED, fontsize=10)
        return {"values": []}
    decimals = panel.get("fieldConfig", {}).get("defaults", {}).get("decimals")
    shown = pairs[: max(1, int(w // 90))]
    cell = w / len(shown)
    texts = []
    for i, (name, value) in enumerate(shown):
        text = formatted(value, unit, decimals)
        texts.append(text)
        size = max(9, min(26, h / 3, cell / max(len(text), 1) * 1.4))
        canvas.text(
            x + cell * (i + 0.5),
            y + h / 2,
            text,
            ha="center",
            va="center",
            fontsize=size,
            color=_threshold_color(panel, value),
            weight="bold",
        )
        if len(shown) > 1:
            canvas.text(
                x + cell * (i + 0.5),
                y + h - 4,
                _clip(name, int(cell // 5)),
                ha="center",
                va="bottom",
                fontsize=6,
                color=MUTED,
            )
    return {"values": texts}


def _table(canvas: Canvas, box, panel: dict, answer: Answer, unit: str) -> dict:
    x, y, w, h = box
    table = table_of(answer)
    if table is None or not table.rows:
        canvas.text(x + w / 2, y + h / 2, "No data", ha="center", va="center", color=MUTED, fontsize=10)
        return {"rows": 0, "of": 0, "columns": table.columns if table else []}
    numeric = set(_numeric_columns(table))
    cells = [[formatted(v, unit) if i in numeric else _cell(v) for i, v in enumerate(r)] for r in table.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells[:50]]) for i, c in enumerate(table.columns)]
    budget = w / 5.0  # characters across, at 7 pt
    scale = min(1.0, budget / max(sum(min(n, 40) + 2 for n in widths), 1))
    chars = [max(3, int((min(n, 40) + 2) * scale) - 1) for n in widths]
    fit = max(0, int((h - 16) // 13))
    drawn = cells[:fit]
    column_x = x + 4
    for i, name in enumerate(table.columns):
        canvas.text(column_x, y, _clip(name, chars[i]), fontsize=7, color="#6e9fff", weight="bold")
        for j, row in enumerate(drawn):
            canvas.text(column_x, y + 15 + j * 13, _clip(row[i], chars[i]), fontsize=7)
        column_x += (chars[i] + 1) * 5.0
    if len(cells) > fit:
        canvas.text(
            x + w - 4, y + h, f"{fit} of {len(cells)} rows", ha="right", va="bottom", fontsize=6, color=MUTED
        )
    return {"rows": len(drawn), "of": len(cells), "columns": list(table.columns)}


def _bars(canvas: Canvas, box, panel: dict, answer: Answer, unit: str) -> dict:
    """barchart and bargauge: a bar per value (a table's text column names the bars of a barchart)."""
    x, y, w, h = box
    table = answer.tables[0] if answer.tables and panel["type"] == "barchart" else None
    if table is not None:
        numeric = _numeric_columns(table)
        names = [" ".join(_cell(r[i]) for i in range(len(r)) if i not in numeric) for r in table.rows]
        groups = [(table.columns[i], [r[i] or 0 for r in table.rows]) for i in numeric]
    else:
        pairs = reduced(panel, answer)
        names, groups = [n for n, _ in pairs], [("", [v or 0 for _, v in pairs])]
    if not names or not groups:
        canvas.text(x + w / 2, y + h / 2, "No data", ha="center", va="center", color=MUTED, fontsize=10)
        return {"bars": 0}
    horizontal = panel["type"] == "bargauge" or panel.get("options", {}).get("orientation") == "horizontal"
    ax = canvas.axes(x + (110 if horizontal else 52), y + 4, w - (120 if horizontal else 60), h - 24)
    width = 0.8 / len(groups)
    bars = 0
    for g, (label, values) in enumerate(groups):
        offsets = [i + g * width - 0.4 + width / 2 for i in range(len(values))]
        colors = (
            [_threshold_color(panel, v) for v in values]
            if panel["type"] == "bargauge"
            else PALETTE[g % len(PALETTE)]
        )
        drawn = (ax.barh if horizontal else ax.bar)(offsets, values, width, color=colors, label=label)
        bars += len(drawn)
    ticks = list(range(len(names)))
    value_axis, name_axis = (ax.xaxis, ax.yaxis) if horizontal else (ax.yaxis, ax.xaxis)
    (ax.set_yticks if horizontal else ax.set_xticks)(ticks, [_clip(n, 18) for n in names], fontsize=7)
    value_axis.set_major_formatter(FuncFormatter(lambda v, _: formatted(v, unit)))
    value_axis.set_major_locator(MaxNLocator(4))
    if horizontal:
        ax.invert_yaxis()
    if len(groups) > 1:
        ax.legend(fontsize=6, frameon=False, labelcolor=TEXT, loc="upper right")
    return {"bars": bars}


def _pie(canvas: Canvas, box, panel: dict, answer: Answer, unit: str) -> dict:
    x, y, w, h = box
    pairs = [(n, v) for n, v in reduced(panel, answer) if v]
    if not pairs:
        canvas.text(x + w / 2, y + h / 2, "No data", ha="center", va="center", color=MUTED, fontsize=10)
        return {"slices": 0}
    side = min(h - 8, w / 2)
    ax = canvas.axes(x + 8, y + 4, side, side)
    donut = panel.get("options", {}).get("pieType") == "donut"
    wedges, _ = ax.pie(
        [v for _, v in pairs],
        colors=[PALETTE[i % len(PALETTE)] for i in range(len(pairs))],
        wedgeprops={"width": 0.45 if donut else 1, "edgecolor": PANEL},
    )
    for i, (name, value) in enumerate(pairs[: int((h - 8) // 12)]):
        canvas.rect(x + side + 20, y + 8 + i * 12, 8, 8, facecolor=PALETTE[i % len(PALETTE)], linewidth=0)
        canvas.text(
            x + side + 32,
            y + 6 + i * 12,
            _clip(f"{name}: {formatted(value, unit)}", int((w - side - 40) // 4.5)),
            fontsize=7,
        )
    return {"slices": len(wedges)}


def _text(canvas: Canvas, box, panel: dict) -> dict:
    x, y, w, h = box
    content = panel.get("options", {}).get("content", "")
    lines = [line.lstrip("#>*- ").replace("**", "") for line in content.splitlines()]
    shown = lines[: int(h // 11)]
    for i, line in enumerate(shown):
        canvas.text(x + 4, y + i * 11, _clip(line, int(w // 4.6)), fontsize=7)
    return {"lines": len(shown)}


def draw(
    dashboard: dict,
    panels: list[dict],
    results: list,
    time: TimeRange,
    variables: dict[str, str],
    notes: list[str],
    path: Path,
) -> list[dict]:
    """Draw the dashboard into `path` (PNG); return, per panel, what was drawn."""
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    canvas = Canvas(HEADER_PX + rows * ROW_PX + MARGIN)
    column = WIDTH_PX / GRID_COLUMNS
    canvas.text(8, 6, dashboard.get("title", ""), fontsize=13, weight="bold")
    shown = "  ".join(f"{k}={_clip(v, 30)}" for k, v in variables.items())
    span = f"{time.start:%Y-%m-%d %H:%M} to {time.end:%Y-%m-%d %H:%M} UTC"
    canvas.text(8, 26, f"{span}   {shown}", fontsize=7, color=MUTED)
    canvas.text(
        WIDTH_PX - 8,
        8,
        "matplotlib rendering of the panels' own queries (no Grafana server)",
        fontsize=7,
        color=MUTED,
        ha="right",
    )
    if notes:
        canvas.text(WIDTH_PX - 8, 24, _clip("; ".join(notes), 140), fontsize=7, color=WARN, ha="right")
    drawn = []
    for panel, result in zip(panels, results, strict=True):
        grid = panel["gridPos"]
        px, py = grid["x"] * column + MARGIN, HEADER_PX + grid["y"] * ROW_PX
        pw, ph = grid["w"] * column - 2 * MARGIN, grid["h"] * ROW_PX - MARGIN
        kind, title = panel.get("type", ""), panel.get("title", "")
        if kind == "row":
            canvas.text(px, py + 6, title, fontsize=10, weight="bold")
            drawn.append({})
            continue
        canvas.rect(px, py, pw, ph)
        canvas.text(px + 6, py + 5, _clip(title, int(pw // 6)), fontsize=8, weight="bold")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        answer = result.answer
        footer = 12 * min(len(answer.notes), 2)
        box = (px + 4, py + 22, pw - 8, ph - 26 - footer)
        if kind == "timeseries":
            what = _timeseries(canvas, box, panel, answer, time, unit)
        elif kind in ("stat", "gauge"):
            what = _stat(canvas, box, panel, answer, unit)
        elif kind == "table":
            what = _table(canvas, box, panel, answer, unit)
        elif kind in ("barchart", "bargauge"):
            what = _bars(canvas, box, panel, answer, unit)
        elif kind == "piechart":
            what = _pie(canvas, box, panel, answer, unit)
        elif kind == "text":
            what = _text(canvas, box, panel)
        else:
            answer.notes.append(f"the {kind} panel type is drawn only by Grafana")
            what = {}
        for i, note in enumerate(answer.notes[:2]):
            canvas.text(
                px + 6,
                py + ph - 14 - 12 * (min(len(answer.notes), 2) - 1 - i),
                _clip(note, int(pw // 4.4)),
                fontsize=6.5,
                color=WARN,
            )
        drawn.append(what | {"notes": list(answer.notes)})
    FigureCanvasAgg(canvas.figure).print_png(str(path))
    # Flat colours: a palette PNG is a fraction of the size, with no visible loss.
    with Image.open(path) as image:
        image.convert("RGB").quantize(PNG_COLOURS).save(path, optimize=True)
    return drawn
