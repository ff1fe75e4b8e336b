"""The periods research counts a metric's rows over (the rows and failures themselves are
metamon.monitoring.statistics.failures), shared by the segment counts, the onset, the pair counts and
the evidence queries. Every value from outside is a bound parameter."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

# The alert's window, and the window or the (sampled) baseline: the rows research counts. A long baseline
# is read as a uniform sample of its traces (by two random bytes of their uuid): its failure rates are
# what matters, and the per-trace work of the discovered dimensions is what costs. Parameters: periods().
IN_WINDOW = "t.timestamp >= :window_start AND t.timestamp < :window_end"
IN_BASELINE = "t.timestamp >= :baseline_start AND t.timestamp < :baseline_end"
SAMPLED = "(get_byte(uuid_send(t.id), 14) * 256 + get_byte(uuid_send(t.id), 15)) < :baseline_keep"
IN_PERIODS = f"(({IN_WINDOW}) OR ({IN_BASELINE} AND {SAMPLED}))"
# Out of 65,536: the whole baseline.
ALL = 65536


def periods(window, baseline, keep: int = ALL) -> dict:
    return {
        "window_start": window[0],
        "window_end": window[1],
        "baseline_start": baseline[0],
        "baseline_end": baseline[1],
        "baseline_keep": keep,
    }


@contextmanager
def tuned(session: Session, **settings: str) -> Iterator[None]:
    """PostgreSQL settings for the statements inside only, restored after (a failing statement aborts
    the transaction, and the local settings go with it). Research queries run with JIT off: their cost
    estimates are huge (the planner cannot know how few combinations the rows collapse into) and JIT then
    compiles for longer than the query runs."""
    settings = {"jit": "off"} | settings
    set_config = text("SELECT set_config(:name, :value, true)")
    previous = {
        name: session.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar() for name in settings
    }
    for name, value in settings.items():
        session.execute(set_config, {"name": name, "value": value})
    yield
    for name, value in previous.items():
        session.execute(set_config, {"name": name, "value": value})
