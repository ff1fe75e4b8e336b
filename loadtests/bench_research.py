"""Time of the research agent's analysis on N traces in the alert's window (and M in the baseline).

.venv/bin/python loadtests/bench_research.py [--window 100000] [--baseline 700000] [--runs 5]

Traces and their fact-accuracy evaluations are generated in SQL (generate_series) in a database of
its own, with every dimension kind the research agent discovers: 4 models, 10 domains, prompt versions,
3 retrieved documents per trace from 6 sources x 50 documents (`kb-3/doc-17`, rolled up), input and
output sizes, 2 tags (`locale:..`, a bare `beta` on some), 3 scalar metadata keys (plus a nested one),
and 2 spans per trace (an llm span and one of 3 tools). Prompt v7 serves 20% of the window and fails
40% of the time, everything else 5%. The bare backend figure is one aggregate over the same rows (count
and failures, no grouping): what scanning them costs at least. The six-fixed-dimensions figure is the
query of the research agent before dimensions were discovered (prompt version, model, first retrieved
source, domain, four fixed input-size buckets, app: one pass, rolled up with GROUPING SETS, over the
whole baseline), on the same rows: the issue's yardstick is "within 3x of it".
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mb, scratch_databases  # noqa: E402

from metamon.agents.research.agent import research  # noqa: E402
from metamon.agents.research.metrics import get_metric  # noqa: E402
from metamon.agents.research.segments import analyse  # noqa: E402
from metamon.agents.research.sql import tuned  # noqa: E402
from metamon.monitoring.db.connect import connect  # noqa: E402
from metamon.monitoring.db.models.projects import Project  # noqa: E402
from metamon.monitoring.db.session import session_scope  # noqa: E402
from metamon.monitoring.settings import get_settings  # noqa: E402

DB_NAME = "metamon_bench_research"
T = datetime(2025, 6, 10, tzinfo=UTC)
WINDOW = (T, T + timedelta(days=1))
BASELINE = (T - timedelta(days=7), T)

SEED = """
    WITH rows AS MATERIALIZED (
        SELECT gen_random_uuid() AS id, i,
               %(start)s::timestamptz + (%(end)s::timestamptz - %(start)s::timestamptz)
                   * ((i + 0.5) / %(n)s::float8) AS ts,
               %(window)s AND i %% 5 = 0 AS v7,
               random() AS r, random() AS r2
        FROM generate_series(0, %(n)s - 1) AS i
    ), ins AS (
        INSERT INTO traces (id, project_id, external_id, timestamp, app, model, prompt_version, domain,
                            input, output, retrieved_context, status, latency_seconds, cost_usd,
                            guardrails, tags, metadata)
        SELECT id, %(project)s, id::text, ts, 'support-bot',
               (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'llama-3-70b'])[1 + i %% 4],
               CASE WHEN v7 THEN 'v7' ELSE 'v6' END, 'domain-' || (i %% 10),
               repeat('q', CASE WHEN r2 < 0.7 THEN 120 WHEN r2 < 0.9 THEN 600
                                WHEN r2 < 0.98 THEN 2000 ELSE 6000 END),
               repeat('a', CASE WHEN r2 < 0.5 THEN 40 WHEN r2 < 0.95 THEN 300 ELSE 3000 END),
               jsonb_build_array(
                   jsonb_build_object('source_id', 'kb-' || (i %% 6) || '/doc-' || (i %% 50),
                                      'content', 'c', 'score', 0.8),
                   jsonb_build_object('source_id', 'kb-' || ((i + 1) %% 6) || '/doc-' || ((i * 7) %% 50),
                                      'content', 'c', 'score', 0.7),
                   jsonb_build_object('source_id', 'kb-' || ((i + 2) %% 6) || '/doc-' || ((i * 3) %% 50),
                                      'content', 'c', 'score', 0.6)
               ),
               'ok', 0.5, 0.001, '[]',
               ARRAY['locale:' || (ARRAY['en-US', 'de-DE', 'fr-FR', 'ja-JP'])[1 + i %% 4]]
                   || CASE WHEN i %% 3 = 0 THEN ARRAY['beta'] ELSE ARRAY[]::text[] END,
               jsonb_build_object('top_k', 5,
                                  'customer_tier', (ARRAY['free', 'pro', 'enterprise'])[1 + i %% 3],
                                  'flag_new_ranker', i %% 2 = 0, 'client', jsonb_build_object('v', 1))
        FROM rows
        RETURNING id, timestamp
    ), sp AS (
        INSERT INTO spans (trace_id, span_id, name, kind, start_time, status, attributes)
        SELECT id, s.span_id, s.name, s.kind, timestamp, 'ok', '{}'
        FROM ins CROSS JOIN LATERAL (VALUES
            ('a', 'chat', 'llm'),
            ('b', (ARRAY['web_search', 'calculator', 'kb_lookup'])[1 + abs(hashtext(id::text)) %% 3], 'tool')
        ) AS s(span_id, name, kind)
    )
    INSERT INTO trace_evaluations (trace_id, project_id, evaluator, kind, score, passed, reason, details)
    SELECT id, %(project)s, 'fact_accuracy', 'code', 0, NOT failed,
           CASE WHEN failed THEN 'missing facts: ' || (i %% 7) ELSE 'passed' END, '{}'
    FROM (SELECT rows.id, i, r < CASE WHEN v7 THEN 0.4 ELSE 0.05 END AS failed
          FROM rows JOIN ins USING (id)) s
"""

BARE = """
    SELECT count(*), count(*) FILTER (WHERE NOT e.passed)
    FROM traces t JOIN trace_evaluations e
      ON e.trace_id = t.id AND e.evaluator = 'fact_accuracy' AND e.passed IS NOT NULL
    WHERE t.project_id = :project AND t.app = 'support-bot'
      AND ((t.timestamp >= :ws AND t.timestamp < :we) OR (t.timestamp >= :bs AND t.timestamp < :be))
"""

# The research agent's segment counts before the rewrite (agents/research/segments.py at 4450ded~1).
SIX_FIXED = """
    WITH combos AS (
        SELECT coalesce(t.prompt_version, '(none)') AS prompt_version, coalesce(t.model, '(none)') AS model,
               coalesce(t.retrieved_context -> 0 ->> 'source_id', '(none)') AS retrieval_source,
               coalesce(t.domain, '(none)') AS domain,
               CASE WHEN octet_length(t.input) < 200 THEN '<200' WHEN octet_length(t.input) < 1000
                    THEN '200-1k' WHEN octet_length(t.input) < 4000 THEN '1k-4k' ELSE '>4k' END
                   AS input_length,
               t.app, t.timestamp >= :ws AND t.timestamp < :we AS in_window,
               count(*) AS n, count(*) FILTER (WHERE NOT e.passed) AS failures
        FROM traces t JOIN trace_evaluations e
          ON e.trace_id = t.id AND e.evaluator = 'fact_accuracy' AND e.passed IS NOT NULL
        WHERE t.project_id = :project AND t.app = 'support-bot'
          AND ((t.timestamp >= :ws AND t.timestamp < :we) OR (t.timestamp >= :bs AND t.timestamp < :be))
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    )
    SELECT prompt_version, model, retrieval_source, domain, input_length, app,
           coalesce(sum(n) FILTER (WHERE in_window), 0), coalesce(sum(failures) FILTER (WHERE in_window), 0),
           coalesce(sum(n) FILTER (WHERE NOT in_window), 0),
           coalesce(sum(failures) FILTER (WHERE NOT in_window), 0)
    FROM combos
    GROUP BY GROUPING SETS ((prompt_version), (model), (retrieval_source), (domain), (input_length), (app))
"""


def seed(
    url: str, project, n: int, start: datetime, end: datetime, window: bool, chunk: int = 100_000
) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.5)")
        for offset in range(0, n, chunk):
            size = min(chunk, n - offset)
            # Each chunk covers its slice of the period, so timestamps stay spread over [start, end).
            a = start + (end - start) * (offset / n)
            b = start + (end - start) * ((offset + size) / n)
            conn.execute(SEED, {"start": a, "end": b, "n": size, "window": window, "project": project})
            print(f"  seeded {offset + size:,}/{n:,} {'window' if window else 'baseline'} traces", flush=True)


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=700_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    with scratch_databases(DB_NAME, keep=args.keep) as (url,):
        settings = get_settings().model_copy(update={"database_url": url})
        with session_scope(url) as session:
            project = Project(slug="bench", name="bench")
            session.add(project)
            session.flush()
            project_id = project.id
        started = time.perf_counter()
        seed(url, project_id, args.baseline, *BASELINE, window=False)
        seed(url, project_id, args.window, *WINDOW, window=True)
        with connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE traces")
            conn.execute("VACUUM ANALYZE trace_evaluations")
            conn.execute("VACUUM ANALYZE spans")
        print(f"seeded {args.window + args.baseline:,} traces in {time.perf_counter() - started:.1f} s")

        params = {
            "project": project_id,
            "ws": WINDOW[0],
            "we": WINDOW[1],
            "bs": BASELINE[0],
            "be": BASELINE[1],
        }
        with session_scope(url) as session:
            bare, counts = timed(lambda: session.execute(text(BARE), params).one(), args.runs)
            # With the agent's own settings (work_mem, JIT off): the yardstick at its fastest.
            with tuned(session, work_mem=settings.research.work_mem):
                six, _ = timed(lambda: session.execute(text(SIX_FIXED), params).all(), args.runs)
            segments, _ = timed(
                lambda: analyse(
                    session,
                    get_metric("fact_accuracy"),
                    project_id=project_id,
                    app="support-bot",
                    window=WINDOW,
                    baseline=BASELINE,
                    min_samples=settings.research.min_samples,
                    work_mem=settings.research.work_mem,
                ),
                args.runs,
            )
            whole, draft = timed(
                lambda: research(
                    session,
                    settings,
                    project_id=project_id,
                    metric="fact_accuracy",
                    app="support-bot",
                    window_start=WINDOW[0],
                    window_end=WINDOW[1],
                ),
                args.runs,
            )
        print(
            f"research on {args.window:,} window + {args.baseline:,} baseline traces "
            f"({counts[0]:,} scored rows, {counts[1]:,} failures), median of {args.runs}:"
        )
        for label, seconds in (
            ("bare backend (one aggregate over the rows)", bare),
            ("six fixed dimensions (the agent before)", six),
            ("segment tables (all dimension kinds)", segments),
            ("whole analysis (+ onset, pairs, evidence)", whole),
        ):
            ratios = f"{seconds / bare:.2f}x bare, {seconds / six:.2f}x six fixed"
            print(f"  {label:<45} {seconds * 1000:8.0f} ms  ({ratios})")
        print(f"  -> {draft.root_cause_key} (confidence {draft.confidence:.2f}): {draft.title}")
        print(f"  dimensions: {len(draft.evidence['segments'])} tested tables, {draft.evidence['tests']}")
        print(f"  peak RSS of this process: {peak_rss_mb(os.getpid()):.0f} MB")


if __name__ == "__main__":
    main()
