"""The dimensions a failure can concentrate in, discovered from the data rather than listed.

Kinds of dimension (a trace may hold several values of the multi-valued ones; it counts once per value):
- columns: prompt_version, model, domain, app (one value per trace, "(none)" when missing);
- sizes: input_length and output_length, in quantile buckets of the window's own sizes (UTF-8 bytes),
  and the upper tails from each edge up (`>=460`): a failing tail that spans several buckets is named
  whole, not by the one bucket that holds the most of it;
- tag (bare tags) and tag.<key> (`key:value` tags);
- metadata.<key>, for every scalar top-level metadata key;
- retrieval_source: the sources of *all* retrieved documents, hierarchical ids rolled up
  (`help-center/doc-17` counts for itself and for `help-center`);
- tool and span: the names of the trace's tool spans and of its other spans.

This module holds the SQL: the per-trace attributes (`SCOPED_COLUMNS`), their expansion into
(dimension, value) facts (`FACTS`), and the predicate that selects one value's traces (`predicate`).
Every value from outside is a bound parameter."""

from dataclasses import dataclass

NONE = "(none)"
# Values beyond a dimension's cap fold into this one: shown, never tested (it is no single thing).
OTHER = "(other)"

# In order of preference when two segments explain the failures equally well: the most actionable first.
# Dimensions discovered at run time (tags, metadata, spans) rank after these.
FIXED_ORDER = (
    "prompt_version",
    "model",
    "retrieval_source",
    "domain",
    "input_length",
    "output_length",
    "tool",
    "span",
    "app",
)
COLUMNS = {"prompt_version": "t.prompt_version", "model": "t.model", "domain": "t.domain", "app": "t.app"}
SIZES = {"input_length": "t.input", "output_length": "t.output"}
# Quantiles of the window's sizes that bound the buckets: the tail (top 3%) gets a bucket of its own.
SIZE_QUANTILES = (0.5, 0.75, 0.9, 0.97)
# Long enough that retrieval for one question may miss context (the playbook's cue for chunking).
LONG_INPUT_BYTES = 1000


def order(dimension: str) -> int:
    return FIXED_ORDER.index(dimension) if dimension in FIXED_ORDER else len(FIXED_ORDER)


def round_edge(x: int) -> int:
    """Two significant digits: bucket names stay put as the window's sizes drift a little."""
    digits = max(len(str(abs(int(x)))) - 2, 0)
    return int(round(x, -digits))


@dataclass(frozen=True)
class SizeBuckets:
    """Edges of the size buckets per size dimension, ascending; bucket i is [edges[i-1], edges[i])."""

    edges: dict[str, list[int]]

    def label(self, dimension: str, bucket: int) -> str:
        edges = self.edges[dimension]
        if not edges:
            return "all"
        if bucket == 0:
            return f"<{edges[0]}"
        if bucket >= len(edges):
            return f">={edges[-1]}"
        return f"{edges[bucket - 1]}-{edges[bucket]}"

    def tails(self, dimension: str) -> list[tuple[str, int]]:
        """(label, first bucket) of each upper tail longer than the last bucket: `>=edge` holds the buckets
        from that edge up."""
        edges = self.edges[dimension]
        return [(f">={edge}", i + 1) for i, edge in enumerate(edges[:-1])]

    def bounds(self, dimension: str, label: str) -> tuple[int | None, int | None]:
        """(lower, upper) bytes of a bucket or an upper tail named by `label` (None: unbounded)."""
        edges = self.edges[dimension]
        if label.startswith(">=") and int(label[2:]) in edges:
            return int(label[2:]), None
        for i in range(len(edges) + 1):
            if self.label(dimension, i) == label:
                return (edges[i - 1] if i else None, edges[i] if i < len(edges) else None)
        raise ValueError(f"no {dimension} bucket {label!r}")


# Per scored trace: its single-valued dimensions, its raw tags and metadata, its sources (duplicates are
# dropped when the combinations are expanded: far fewer rows than traces). Grouping on
# these collapses the rows into combinations before expanding them into facts.
SCOPED_COLUMNS = f"""
    coalesce(t.prompt_version, '{NONE}') AS prompt_version, coalesce(t.model, '{NONE}') AS model,
    coalesce(t.domain, '{NONE}') AS domain, t.app,
    width_bucket(octet_length(t.input), CAST(:input_edges AS int[])) AS input_length,
    width_bucket(octet_length(t.output), CAST(:output_edges AS int[])) AS output_length,
    t.tags,
    CASE WHEN jsonb_typeof(t.metadata) = 'object' THEN t.metadata ELSE '{{}}'::jsonb END AS metadata,
    CASE WHEN jsonb_typeof(t.retrieved_context) = 'array'
         THEN jsonb_path_query_array(t.retrieved_context, '$[*].source_id') ELSE '[]'::jsonb END AS sources
"""
SCOPED_NAMES = "prompt_version, model, domain, app, input_length, output_length, tags, metadata, sources"

# One combination `c` -> its (dimension, value) facts, each at most once.
FACTS = f"""
    VALUES ('prompt_version', c.prompt_version), ('model', c.model), ('domain', c.domain), ('app', c.app),
           ('input_length', c.input_length::text), ('output_length', c.output_length::text)
    UNION ALL
    SELECT DISTINCT
        CASE WHEN strpos(tag, ':') > 1 THEN 'tag.' || left(split_part(tag, ':', 1), 100) ELSE 'tag' END,
        CASE WHEN strpos(tag, ':') > 1 THEN substr(tag, strpos(tag, ':') + 1) ELSE tag END
    FROM unnest(c.tags) AS tag
    UNION ALL
    SELECT 'metadata.' || left(m.key, 100), left(m.value #>> '{{}}', 200)
    FROM jsonb_each(c.metadata) AS m
    WHERE jsonb_typeof(m.value) IN ('string', 'number', 'boolean')
    UNION ALL
    SELECT DISTINCT 'retrieval_source', array_to_string((string_to_array(src, '/'))[1:i], '/')
    FROM jsonb_array_elements_text(c.sources) AS src,
         generate_series(1, cardinality(string_to_array(left(src, 500), '/'))) AS i
    UNION ALL
    SELECT 'retrieval_source', '{NONE}' WHERE jsonb_array_length(c.sources) = 0
"""

# The span facts of the scoped traces `sc` (id, in_window, failed, ts), counted by one hash join with
# the spans (a lookup per trace costs far more), each trace once per name.
SPAN_FACTS = """
    SELECT CASE WHEN s.kind = 'tool' THEN 'tool' ELSE 'span' END AS dimension, left(s.name, 200) AS value,
           count(DISTINCT sc.id) FILTER (WHERE sc.in_window) AS window_n,
           count(DISTINCT sc.id) FILTER (WHERE sc.in_window AND sc.failed) AS window_failures,
           count(DISTINCT sc.id) FILTER (WHERE NOT sc.in_window) AS baseline_n,
           count(DISTINCT sc.id) FILTER (WHERE NOT sc.in_window AND sc.failed) AS baseline_failures,
           min(sc.ts) AS first_seen
    FROM scoped sc JOIN spans s ON s.trace_id = sc.id
    GROUP BY 1, 2
"""


def predicate(dimension: str, value: str, sizes: SizeBuckets, name: str) -> tuple[str, dict]:
    """(SQL condition on trace `t`, its parameters) selecting the traces that hold dimension=value.
    `name` prefixes the parameters, so several predicates can share one statement."""
    v = f"{name}_v"
    if dimension in COLUMNS:
        return f"coalesce({COLUMNS[dimension]}, '{NONE}') = :{v}", {v: value}
    if dimension in SIZES:
        lo, hi = sizes.bounds(dimension, value)
        size = f"octet_length({SIZES[dimension]})"
        conds = ([f"{size} >= {int(lo)}"] if lo is not None else []) + (
            [f"{size} < {int(hi)}"] if hi is not None else []
        )
        return " AND ".join(conds) or "TRUE", {}
    if dimension == "tag":
        return f":{v} = ANY(t.tags)", {v: value}
    if dimension.startswith("tag."):
        return f":{v} = ANY(t.tags)", {v: f"{dimension[4:]}:{value}"}
    if dimension.startswith("metadata."):
        k = f"{name}_k"
        return (
            f"jsonb_typeof(t.metadata -> :{k}) IN ('string', 'number', 'boolean') "
            f"AND left(t.metadata ->> :{k}, 200) = :{v}",
            {k: dimension[len("metadata.") :], v: value},
        )
    if dimension == "retrieval_source":
        if value == NONE:
            return "NOT jsonb_path_exists(t.retrieved_context, '$[*].source_id')", {}
        return (
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.retrieved_context) "
            "= 'array' THEN t.retrieved_context ELSE '[]'::jsonb END) x "
            f"WHERE left(x ->> 'source_id', 500) = :{v} "
            f"OR left(x ->> 'source_id', length(:{v}) + 1) = :{v} || '/')",
            {v: value},
        )
    if dimension in ("tool", "span"):
        kind = "s.kind = 'tool'" if dimension == "tool" else "s.kind <> 'tool'"
        return f"EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.id AND {kind} AND s.name = :{v})", {
            v: value
        }
    raise ValueError(f"unknown dimension {dimension!r}")
