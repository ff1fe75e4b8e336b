"""Trend charts for the digest, rendered to PNG by matplotlib's Agg backend (no display, no pyplot state).

A chart stays readable at any number of apps: the worst few are lines of their own, the rest fold into
one band (their range at each window end) around their median; the x axis spans the data's own times."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from io import BytesIO
from statistics import median

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

# Every chart has the same pixel size, which the HTML declares on its <img>.
WIDTH_PX = 760
HEIGHT_PX = 280
DPI = 100
# What fits in the legend column at the right; longer app names lose their middle (names of one family
# differ at the end: support-bot-eu, support-bot-us).
LEGEND_CHARS = 20
# Apps drawn as lines of their own; the others fold into one band (only when two or more are left).
MAX_LINES = 5
# A single window end still gets an axis this wide around it.
MIN_SPAN = timedelta(hours=2)

Points = Sequence[tuple[datetime, float]]


def worst_first(series: Mapping[str, Points], *, higher_is_better: bool) -> list[str]:
    """The series' names, the worst latest value first (ties by name)."""
    sign = 1 if higher_is_better else -1
    return sorted(series, key=lambda name: (sign * series[name][-1][1], name))


def fold(series: Mapping[str, Points], *, higher_is_better: bool) -> tuple[dict[str, Points], list[tuple]]:
    """(the worst MAX_LINES series, the rest as (time, low, median, high) per window end)."""
    ranked = worst_first(series, higher_is_better=higher_is_better)
    if len(ranked) <= MAX_LINES + 1:
        return dict(series), []
    shown = {name: series[name] for name in ranked[:MAX_LINES]}
    at: dict[datetime, list[float]] = {}
    for name in ranked[MAX_LINES:]:
        for when, value in series[name]:
            at.setdefault(when, []).append(value)
    band = [(when, min(values), median(values), max(values)) for when, values in sorted(at.items())]
    return shown, band


def x_limits(series: Mapping[str, Points]) -> tuple[datetime, datetime]:
    """The data's own time range, a little padded (at least MIN_SPAN wide)."""
    times = [when for points in series.values() for when, _ in points]
    first, last = min(times), max(times)
    pad = max((last - first) * 0.03, (MIN_SPAN - (last - first)) / 2)
    return first - pad, last + pad


def trend_png(
    title: str,
    ylabel: str,
    series: Mapping[str, Points],
    *,
    tz: tzinfo,
    percent: bool,
    higher_is_better: bool = True,
) -> bytes:
    """One line per series (an app), the worst MAX_LINES of them, the rest folded; `series` (each oldest
    first) must not be empty."""
    shown, band = fold(series, higher_is_better=higher_is_better)
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    # Fixed margins with room for the legend on the right: an automatic layout costs more than the drawing.
    fig.subplots_adjust(left=0.12, right=0.75, top=0.88, bottom=0.18)
    ax = fig.add_subplot()
    if band:
        xs, lows, mids, highs = zip(*band, strict=True)
        others = len(series) - len(shown)
        ax.fill_between(xs, lows, highs, color="0.75", alpha=0.5, linewidth=0, label=f"{others} other apps")
        ax.plot(xs, mids, color="0.45", linestyle="--", linewidth=1.2, label="their median")
    for label, points in shown.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=_fit(label))
    start, end = x_limits(series)
    ax.set_xlim(start, end)
    ax.set_title(title)
    ax.set_xlabel(f"evaluation window end ({end.astimezone(tz).tzname()})")
    ax.set_ylabel(ylabel)
    locator = AutoDateLocator(tz=tz, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=tz))
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small", frameon=False)
    out = BytesIO()
    # No "Software" version stamp in the PNG: the same data renders to the same bytes.
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _fit(label: str, width: int = LEGEND_CHARS) -> str:
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    return label[:head] + "…" + label[-(width - 1 - head) :]
