"""The one settings object: every knob is a `METAMON_*` environment variable (or a line in `.env`)."""

import ipaddress
import logging
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import PositiveFloat, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Webhook tokens published in metamon's source and docs (earlier defaults and examples): a public
# bind refuses them, and any token shorter than MIN_PUBLIC_TOKEN_LENGTH.
KNOWN_WEBHOOK_TOKENS = frozenset({"metamon-local-webhook-token", "change-me-webhook-token", "change-me"})
MIN_PUBLIC_TOKEN_LENGTH = 24


def read_or_create_secret(path: Path) -> str:
    """The secret in `path`; when there is none, a new random one written there with mode 0600.
    O_EXCL: of processes starting at once, one writes and the others read what it wrote."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the writer may be between creating and writing
            if value := path.read_text().strip():
                return value
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it to have a new secret generated") from None
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return read_or_create_secret(path)
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    logging.getLogger(__name__).warning("generated a new webhook token in %s", path)
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def refuse_public_bind_with_known_token(settings: "Settings", host: str) -> None:
    """Raise when the API would listen beyond loopback with a webhook token anyone could know."""
    token = settings.webhook_token()
    if is_loopback(host) or (token not in KNOWN_WEBHOOK_TOKENS and len(token) >= MIN_PUBLIC_TOKEN_LENGTH):
        return
    raise ValueError(
        f"refusing to listen on {host} with a known or short webhook token: unset "
        "METAMON_ALERT_WEBHOOK_TOKEN (a random one is then generated in METAMON_ALERT_WEBHOOK_TOKEN_FILE) "
        f"or set a random one of at least {MIN_PUBLIC_TOKEN_LENGTH} characters"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METAMON_", env_file=".env", extra="ignore")

    # The folder holding the rendered config users mount (prometheus/, grafana/, elasticsearch/), which
    # `metamon stack up` and the generators work on: a checkout, by default the current directory. The
    # services never read it; what they read is package data.
    config_dir: Path = Path(".")
    # Where the local stack keeps its programs, data and logs.
    stack_dir: Path = Path(".stack")
    # The unprivileged user that runs PostgreSQL and Elasticsearch when the stack is started as root.
    stack_user: str = "metamon"

    # Where the API and the exporter listen (the bind address: 0.0.0.0 in a container).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    exporter_port: int = 9464

    # Where people and Alertmanager reach the API (links in emails, the webhook Alertmanager calls), e.g.
    # https://metamon.example.com. Empty: http://api_host:api_port, a wildcard bind address read as 127.0.0.1.
    public_url: str = ""
    # API worker processes (`metamon serve`); 0: one per usable core.
    api_workers: int = 0
    # Requests one API worker serves at once; one more is answered 503 with Retry-After at once, not queued.
    api_max_in_flight: int = 20

    # PostgreSQL, the source of truth (the local stack runs its own cluster with these).
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "metamon"
    postgres_password: str = "metamon"
    postgres_db: str = "metamon"
    postgres_bin: Path = Path("/usr/lib/postgresql/15/bin")  # the local stack's PostgreSQL programs
    database_url: str = ""  # derived from the postgres_* fields when empty
    # Seconds a new database connection may take (libpq's connect_timeout, whole seconds, at least 2):
    # a hung server costs a client seconds, not minutes. A `connect_timeout` in database_url wins.
    database_connect_timeout_seconds: int = 3
    # Seconds one statement may run (server-side statement_timeout, on every pooled connection; batch
    # jobs run one statement per batch, well under it). An `options` in database_url's query wins.
    # A client waits at most this plus the connect timeout for any answer (a stopped server cannot
    # time out its own statements), then drops the connection: the API answers 503.
    database_statement_timeout_seconds: float = 30.0
    # Seconds a request waits for a free pooled connection before its 503.
    database_pool_timeout_seconds: float = 5.0
    # What a 503 tells clients to wait before retrying while the database is unreachable.
    database_retry_after_seconds: int = 5

    # Elasticsearch: the version the local stack fetches, its HTTP port and heap.
    elasticsearch_version: str = "8.19.9"
    elasticsearch_port: int = 9200
    # Derived from elasticsearch_port when empty; several nodes of one cluster as a comma-separated list
    # (a request to a node that is down goes to the next).
    elasticsearch_url: str = ""
    elasticsearch_heap: str = "512m"  # the local stack's JVM heap (-Xms and -Xmx)
    # The heap of each of the HA profile's three Elasticsearch nodes (`metamon stack up --ha`).
    ha_elasticsearch_heap: str = "256m"
    # A Maven settings.xml (mirrors, proxies) for fetching Elasticsearch; Maven Central when unset.
    maven_settings: Path | None = None
    java_home: Path = Path("/usr/lib/jvm/java-17-openjdk-amd64")  # the JDK Elasticsearch runs on

    # Prometheus and Alertmanager: the local stack's ports, and the URLs metamon reaches them at
    # (derived from the ports when empty).
    prometheus_port: int = 9090
    prometheus_url: str = ""
    alertmanager_port: int = 9093
    alertmanager_url: str = ""

    # Ingest limits: a bigger batch or body is refused with 413, never truncated.
    ingest_max_batch: int = 1000
    ingest_max_body_bytes: int = 10 * 1024 * 1024

    # Search: traces live in monthly indices behind one alias; shards and replicas are cluster config.
    traces_index_alias: str = "metamon-traces"
    index_shards: int = 1
    index_replicas: int = 0
    # Matches are counted exactly up to this many; beyond it `total` is a lower bound
    # (`total_relation: "gte"`), which lets Elasticsearch skip non-competitive documents.
    search_exact_total_up_to: int = 10_000
    # The indexer drains the outbox in batches; failures back off exponentially up to the cap.
    # Outbox rows one indexer pass claims at most; an ingest batch is one row, a label change is one row.
    indexer_claim_rows: int = 20
    # Traces one pass claims (at least one row): small enough that several indexers share a backlog.
    indexer_claim_traces: int = 2000
    # Documents per bulk request; the next request's documents are loaded while one is in flight.
    indexer_bulk_documents: int = 500
    # A bulk request slower than this fails, and only its documents (and those after) retry later.
    indexer_bulk_timeout_seconds: float = 60.0
    indexer_poll_seconds: float = 0.5
    indexer_max_backoff_seconds: float = 60.0

    # Review queue: an evaluator score this close to 0.5 counts as borderline.
    review_borderline_margin: float = 0.15
    # The exporter's review-queue size counts unlabelled failing or borderline traces of these last days.
    review_queue_days: int = 30

    # Evaluators. Latency SLA per app ("default" for the others), in seconds.
    sla_latency_seconds: dict[str, float] = {"default": 2.0}
    # USD per 1,000 tokens, used when a trace carries no cost of its own.
    model_prices: dict[str, dict[str, float]] = {
        "gpt-4o": {"input": 0.0025, "output": 0.01},
        "gpt-4o-mini": {"input": 0.00015, "output": 0.0006},
        "claude-3-5-sonnet": {"input": 0.003, "output": 0.015},
    }
    # A trace costing more than this fails the cost evaluator.
    cost_budget_usd: float = 0.05
    banned_terms: list[str] = []
    # LLM for the judge evaluator and the research narrative (see agents/llm.py): "provider:model" for
    # LangChain's init_chat_model, or a "module:function" returning a chat model. Empty: no LLM.
    llm_model: str = ""
    llm_factory: str = ""
    # Evaluation agent: traces scored per transaction; the window an evaluation run summarises; the
    # trailing days a run is compared with when its scope has no pinned baseline run.
    evaluation_batch_size: int = 500
    evaluation_window_seconds: int = 3600
    evaluation_baseline_days: int = 7
    # Monitor agent: per app and signal, the last bucket against the EWMA of the trailing buckets.
    monitor_bucket_seconds: int = 300
    monitor_history_buckets: int = 288  # 24 hours of 5-minute buckets
    monitor_min_samples: int = 20  # traces a bucket needs to count
    monitor_min_history: int = 6  # buckets of history before anything is judged
    monitor_ewma_alpha: float = 0.3
    monitor_z_threshold: float = 3.0
    # The deviation a z-score divides by is at least this (absolute) or this share of the mean.
    monitor_std_floor: float = 0.01
    monitor_std_floor_relative: float = 0.05
    # Scheduler (`metamon scheduler`): intervals in seconds, daily jobs at HH:MM in scheduler_timezone.
    scheduler_evaluate_seconds: int = 60
    scheduler_monitor_seconds: int = 300
    scheduler_daily_run_at: str = "03:00"
    scheduler_retention_at: str = "04:00"
    scheduler_digest_at: str = "09:00"
    scheduler_timezone: str = "UTC"
    # Retention: traces (with their spans, scores and labels), runs, resolved alerts and job records
    # older than this are deleted; monthly search indices go once their whole month is older.
    retention_days: int = 30
    # Bucket bounds of metamon_request_duration_seconds. The counters store cumulative counts per
    # bound, so changing this list needs the usage_counters table emptied.
    latency_buckets_seconds: list[float] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
    # A trace whose timestamp is older than this when it arrives is a backfill: usage counts it apart
    # (metamon_backfilled_requests_total), never in the request, cost and latency counters that page.
    backfill_after_seconds: PositiveFloat = 3600

    # Alerting profile of the local stack: "standard" (the committed rules and Alertmanager waits), or
    # "fast" (the same rules with seconds instead of minutes, 1 s scrapes; what `make demo` runs).
    alerting_profile: Literal["standard", "fast"] = "standard"
    # Alert loop. Alertmanager calls POST /api/v1/alerts/webhook with this bearer token. There is no
    # built-in default: unset, it is read from METAMON_ALERT_WEBHOOK_TOKEN_FILE.
    alert_webhook_token: str = ""
    # The file holding the webhook token when METAMON_ALERT_WEBHOOK_TOKEN is unset (default
    # <stack_dir>/secrets/alert_webhook_token); the first process to need it writes a random one
    # (mode 0600). Code reads the token with `webhook_token()`.
    alert_webhook_token_file: Path | None = None
    _webhook_token: str | None = PrivateAttr(None)
    # Slack incoming-webhook URL for critical alerts; no Slack receiver is rendered while it is empty.
    slack_webhook_url: str = ""
    # SMTP for alert emails and the daily digest (the local stack has no mail server of its own).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "metamon@localhost"
    alert_email_to: list[str] = ["sre@localhost"]
    # The daily digest's recipients for a project that names none of its own
    # (PUT /api/v1/projects/current/digest-recipients).
    digest_email_to: list[str] = ["ml-team@localhost"]
    # Links in alert annotations and emails point here (dashboards have fixed UIDs).
    grafana_url: str = "http://127.0.0.1:3000"
    # Research agent: a dimension value is tested only with this many traces in the window, and compared
    # with its own baseline only with this many there (else with the whole baseline).
    research_min_samples: int = 30
    # Family-wise significance of the segment tests (Bonferroni over the values tested per alert).
    research_significance: float = 0.01
    # The baseline window when the caller gives none: this many days before the alert's window.
    research_baseline_days: float = 7.0
    # Evidence kept on a proposal: failing trace ids, and distinct failure reasons with their counts.
    research_evidence_traces: int = 20
    research_evidence_reasons: int = 10
    # PostgreSQL work_mem for the segment query alone (its hash join holds a small row per scored trace).
    research_work_mem: str = "64MB"
    # Validation agent: target calls in flight at once, and seconds per call (an overrun fails the case).
    validation_concurrency: int = 8
    validation_timeout_seconds: float = 30.0
    # Evaluators the golden replay scores both configs with (names from agents/evaluation/registry.py).
    validation_evaluators: list[str] = ["fact_accuracy", "guardrails"]
    # Verdict: pass rate not lower, improvement shown (McNemar p < alpha, or the bootstrap CI of the
    # mean score delta above 0), and at most this many regressions (pass → fail, or a case's score
    # falling by more than validation_score_drop).
    validation_alpha: float = 0.05
    validation_max_regressions: int = 2
    validation_score_drop: float = 0.1
    validation_bootstrap_resamples: int = 2000

    # Exporter: collectors reuse what they read for this long (bounds database load when several
    # Prometheus servers scrape); each label keeps this many values, the rest fold into "other".
    exporter_cache_seconds: float = 5.0
    exporter_label_cap: int = 50
    # Evaluation runs older than this are not published (the EvaluationStale alert covers the gap).
    exporter_run_max_age_hours: int = 48

    # Webhook: Alertmanager's notifications are small; a bigger body or more alerts is refused.
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_max_alerts: int = 1000
    # Research: the window before an alert that the research agent analyses.
    research_window_seconds: int = 3600
    # While an alert fires, the worker re-runs research on its pending proposal at most this often, and
    # only once new traces arrived.
    research_revise_seconds: float = 60.0
    # Proposals: approving one that is high-risk, or expected to gain at least this much of its metric,
    # needs a reviewer and a comment; the optional policy approves validated low-risk ones by itself.
    high_impact_improvement: float = 0.05
    auto_approve_low_risk: bool = False
    # Rollout: the candidate config's share of traffic at each stage (rising, the last 100). The monitor
    # moves one stage per run once both the candidate's traces and the others since the rollout began
    # have rollout_min_samples scored for the proposal's metric, and rolls back instead when the
    # candidate's metric is worse than the others' by more than rollout_max_degradation (relative).
    rollout_stages: list[int] = [10, 50, 100]
    rollout_min_samples: int = 100
    rollout_max_degradation: float = 0.05
    # Impact: the before/after two-proportion test's significance level, and what one percentage point
    # of the metric (one failure fewer per 100 requests) is worth per 1,000 requests, in USD. ROI per 30
    # days = (failure rate before - after, in points) x impact_value_per_point_usd
    #        x (the app's requests in the last 7 days x 30/7) / 1000.
    impact_alpha: float = 0.05
    impact_value_per_point_usd: float = 1.0
    # The registered targets the validation agent replays golden cases through, by name: an http(s)
    # endpoint or a Python callable "module:function". A validation uses the one named like the
    # proposal's app, else "default"; a request may name another registered one, nothing else (a URL
    # or module in a request is a 422). Only operators set these: settings are server-side.
    validation_targets: dict[str, str] = {"default": "metamon.monitoring.demo.sample_app:answer"}
    # Hosts a registered http(s) validation target may point at; any other is refused (422).
    validation_allowed_hosts: list[str] = ["127.0.0.1", "localhost", "::1"]
    # A proposal `validating` this long with no worker replaying it (the worker crashed, or none runs)
    # is swept back to failed_validation by the worker, with the reason in the audit log.
    validation_stale_seconds: float = 1800.0

    # Seconds each dependency check in /api/v1/health may take before it counts as down.
    health_timeout: float = 2.0
    # Seconds `stack up` waits for a service to become healthy.
    stack_start_timeout: float = 180.0
    # Restarts supervisor tries when a service dies within 10 s of starting, waiting 1 s, 2 s, 3 s...
    # longer each time, before giving up on it (FATAL, which `metamon stack status` reports).
    stack_start_retries: int = 8
    # Log level of every metamon process.
    log_level: str = "INFO"

    @field_validator("rollout_stages")
    @classmethod
    def _stages_rise_to_100(cls, stages: list[int]) -> list[int]:
        if not stages or stages != sorted(set(stages)) or stages[0] < 1 or stages[-1] != 100:
            raise ValueError("rollout stages must rise from at least 1 and end at 100, e.g. [10, 50, 100]")
        return stages

    @model_validator(mode="after")
    def _derive_urls(self) -> "Settings":
        self.config_dir = self.config_dir.resolve()
        self.stack_dir = self.stack_dir.resolve()
        if not self.database_url:
            self.database_url = (
                f"postgresql+psycopg://{self.postgres_user}:{self.postgres_password}"
                f"@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
            )
        self.elasticsearch_url = self.elasticsearch_url or f"http://127.0.0.1:{self.elasticsearch_port}"
        self.prometheus_url = self.prometheus_url or f"http://127.0.0.1:{self.prometheus_port}"
        self.alertmanager_url = self.alertmanager_url or f"http://127.0.0.1:{self.alertmanager_port}"
        self.alert_webhook_token_file = (
            self.alert_webhook_token_file or self.stack_dir / "secrets" / "alert_webhook_token"
        ).resolve()
        return self

    def webhook_token(self) -> str:
        """The webhook's bearer token: the setting, else the file's (generated on first use). Read
        once per settings object: the webhook checks it on every notification."""
        if self._webhook_token is None:
            self._webhook_token = self.alert_webhook_token or read_or_create_secret(
                self.alert_webhook_token_file
            )
        return self._webhook_token

    def bind_url(self, port: int) -> str:
        """The URL of a port this process binds on api_host, a wildcard address read as 127.0.0.1."""
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::", "") else self.api_host
        return f"http://{host}:{port}"

    @property
    def public_base_url(self) -> str:
        """public_url, or the API's bind URL (computed on use, so copies with another port follow)."""
        return self.public_url.rstrip("/") or self.bind_url(self.api_port)

    @property
    def maintenance_database_url(self) -> str:
        """The same server's `postgres` database, for creating and dropping databases."""
        return make_url(self.database_url).set(database="postgres").render_as_string(hide_password=False)


@lru_cache
def get_settings() -> Settings:
    return Settings()
