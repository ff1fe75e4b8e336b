"""Trend charts for the digest, rendered to PNG by matplotlib's Agg backend (no display, no pyplot state)."""

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, DayLocator
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

# Every chart has the same pixel size, which the HTML declares on its <img>.
WIDTH_PX = 760
HEIGHT_PX = 280
DPI = 100
# What fits in the legend column at the right; longer app names are cut with an ellipsis.
LEGEND_CHARS = 20


def trend_png(
    title: str,
    ylabel: str,
    series: Mapping[str, Sequence[tuple[datetime, float]]],
    *,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    percent: bool,
) -> bytes:
    """One line per series (an app) over [start, end]; `series` must not be empty."""
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    # Fixed margins with room for the legend on the right: an automatic layout costs more than the drawing.
    fig.subplots_adjust(left=0.12, right=0.75, top=0.88, bottom=0.18)
    ax = fig.add_subplot()
    for label, points in series.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=_fit(label))
    ax.set_title(title)
    ax.set_xlabel(f"evaluation window end ({end.astimezone(tz).tzname()})")
    ax.set_ylabel(ylabel)
    ax.set_xlim(start, end)
    ax.xaxis.set_major_locator(DayLocator(tz=tz))
    ax.xaxis.set_major_formatter(DateFormatter("%b %d", tz=tz))
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small", frameon=False)
    out = BytesIO()
    # No "Software" version stamp in the PNG: the same data renders to the same bytes.
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _fit(label: str, width: int = LEGEND_CHARS) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
