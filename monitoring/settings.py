"""The one settings object, in groups (`settings.database.url`, `settings.research.min_samples`...), the local
stack's own apart (`settings.stack`). Every knob is a `METAMON_*` environment variable (or a line in
`.env`) of the flat name it always had: a group field is `METAMON_<GROUP>_<FIELD>` unless its
`validation_alias` names another (`database.host` is `METAMON_POSTGRES_HOST`). Settings(...) and
model_copy(update=...) take those flat names too."""

import ipaddress
import logging
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PrivateAttr,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
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


class Group(BaseModel):
    """A group of settings: built by field name, or by the flat name a field's validation_alias gives."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


def _flat(name: str, default, **kwargs):
    """A group field whose environment variable is METAMON_<name> rather than METAMON_<GROUP>_<FIELD>."""
    return Field(default, validation_alias=name, **kwargs)


class StackSettings(Group):
    """The local stack's own (`metamon stack`): where it lives, what it runs, how it starts."""

    # Where the local stack keeps its programs, data and logs.
    dir: Path = Path(".stack")
    # The unprivileged user that runs PostgreSQL and Elasticsearch when the stack is started as root.
    user: str = "metamon"
    postgres_bin: Path = _flat("postgres_bin", Path("/usr/lib/postgresql/15/bin"))  # PostgreSQL programs
    # Elasticsearch: the version the local stack fetches, and its JVM heap (-Xms and -Xmx).
    elasticsearch_version: str = _flat("elasticsearch_version", "8.19.9")
    elasticsearch_heap: str = _flat("elasticsearch_heap", "512m")
    # The heap of each of the HA profile's three Elasticsearch nodes (`metamon stack up --ha`).
    ha_elasticsearch_heap: str = _flat("ha_elasticsearch_heap", "256m")
    # A Maven settings.xml (mirrors, proxies) for fetching Elasticsearch; Maven Central when unset.
    maven_settings: Path | None = _flat("maven_settings", None)
    java_home: Path = _flat(
        "java_home", Path("/usr/lib/jvm/java-17-openjdk-amd64")
    )  # the JDK Elasticsearch runs on
    # Alerting profile of the local stack: "standard" (the committed rules and Alertmanager waits), or
    # "fast" (the same rules with seconds instead of minutes, 1 s scrapes; what `make demo` runs).
    alerting_profile: Literal["standard", "fast"] = _flat("alerting_profile", "standard")
    # Seconds `stack up` waits for a service to become healthy.
    start_timeout: float = 180.0
    # Restarts supervisor tries when a service dies within 10 s of starting, waiting 1 s, 2 s, 3 s...
    # longer each time, before giving up on it (FATAL, which `metamon stack status` reports).
    start_retries: int = 8


class ApiSettings(Group):
    # Where the API listens: the bind address (0.0.0.0 in a container), not where clients reach it.
    host: str = "127.0.0.1"
    port: int = 8000
    # Where people and Alertmanager reach the API (links in emails, the webhook Alertmanager calls), e.g.
    # https://metamon.example.com. Empty: http://api.host:api.port, a wildcard bind address read as
    # 127.0.0.1.
    public_url: str = _flat("public_url", "")
    # API worker processes (`metamon serve`); 0: one per usable core.
    workers: int = 0
    # Requests one API worker serves at once; one more is answered 503 with Retry-After at once, not queued.
    max_in_flight: int = 20
    # Seconds each dependency check in /api/v1/health may take before it counts as down.
    health_timeout: float = _flat("health_timeout", 2.0)

    def bind_url(self, port: int) -> str:
        """The URL of a port this process binds on the API's host, a wildcard address read as 127.0.0.1."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{port}"

    @property
    def public_base_url(self) -> str:
        """public_url, or the API's bind URL (computed on use, so copies with another port follow)."""
        return self.public_url.rstrip("/") or self.bind_url(self.port)


class DatabaseSettings(Group):
    # PostgreSQL, the source of truth (the local stack runs its own cluster with these).
    host: str = _flat("postgres_host", "127.0.0.1")
    port: int = _flat("postgres_port", 5432)
    user: str = _flat("postgres_user", "metamon")
    password: str = _flat("postgres_password", "metamon")
    name: str = _flat("postgres_db", "metamon")
    url: str = ""  # derived from host, port, user, password and name when empty
    # Seconds a new database connection may take (libpq's connect_timeout, whole seconds, at least 2):
    # a hung server costs a client seconds, not minutes. A `connect_timeout` in the url wins.
    connect_timeout_seconds: int = 3
    # Seconds one statement may run (server-side statement_timeout, on every pooled connection; batch
    # jobs run one statement per batch, well under it). An `options` in the url's query wins.
    # A client waits at most this plus the connect timeout for any answer (a stopped server cannot
    # time out its own statements), then drops the connection: the API answers 503.
    statement_timeout_seconds: float = 30.0
    # Seconds a request waits for a free pooled connection before its 503.
    pool_timeout_seconds: float = 5.0
    # What a 503 tells clients to wait before retrying while the database is unreachable.
    retry_after_seconds: int = 5

    @property
    def maintenance_url(self) -> str:
        """The same server's `postgres` database, for creating and dropping databases."""
        return make_url(self.url).set(database="postgres").render_as_string(hide_password=False)


class IngestSettings(Group):
    # Ingest limits: a bigger batch or body is refused with 413, never truncated.
    max_batch: int = 1000
    max_body_bytes: int = 10 * 1024 * 1024


class SearchSettings(Group):
    # Elasticsearch: its HTTP port (the local stack's), and the URL metamon reaches it at.
    port: int = _flat("elasticsearch_port", 9200)
    # Derived from the port when empty; several nodes of one cluster as a comma-separated list (a
    # request to a node that is down goes to the next).
    url: str = _flat("elasticsearch_url", "")
    # Traces live in monthly indices behind one alias; shards and replicas are cluster config.
    traces_index_alias: str = _flat("traces_index_alias", "metamon-traces")
    index_shards: int = _flat("index_shards", 1)
    index_replicas: int = _flat("index_replicas", 0)
    # Matches are counted exactly up to this many; beyond it `total` is a lower bound
    # (`total_relation: "gte"`), which lets Elasticsearch skip non-competitive documents.
    exact_total_up_to: int = 10_000
    # The indexer drains the outbox in batches; failures back off exponentially up to the cap.
    # Outbox rows one indexer pass claims at most; an ingest batch is one row, a label change is one row.
    indexer_claim_rows: int = _flat("indexer_claim_rows", 20)
    # Traces one pass claims (at least one row): small enough that several indexers share a backlog.
    indexer_claim_traces: int = _flat("indexer_claim_traces", 2000)
    # Documents per bulk request; the next request's documents are loaded while one is in flight.
    indexer_bulk_documents: int = _flat("indexer_bulk_documents", 500)
    # A bulk request slower than this fails, and only its documents (and those after) retry later.
    indexer_bulk_timeout_seconds: float = _flat("indexer_bulk_timeout_seconds", 60.0)
    indexer_poll_seconds: float = _flat("indexer_poll_seconds", 0.5)
    indexer_max_backoff_seconds: float = _flat("indexer_max_backoff_seconds", 60.0)


class ReviewSettings(Group):
    # Review queue: an evaluator score this close to 0.5 counts as borderline.
    borderline_margin: float = 0.15
    # The exporter's review-queue size counts unlabelled failing or borderline traces of these last days.
    queue_days: int = 30


class LlmSettings(Group):
    # LLM for the judge evaluator and the research narrative (see agents/llm.py): "provider:model" for
    # LangChain's init_chat_model, or a "module:function" returning a chat model. Empty: no LLM.
    model: str = ""
    factory: str = ""


class EvaluationSettings(Group):
    # Evaluators. Latency SLA per app ("default" for the others), in seconds.
    sla_latency_seconds: dict[str, float] = _flat("sla_latency_seconds", {"default": 2.0})
    # USD per 1,000 tokens, used when a trace carries no cost of its own.
    model_prices: dict[str, dict[str, float]] = _flat(
        "model_prices",
        {
            "gpt-4o": {"input": 0.0025, "output": 0.01},
            "gpt-4o-mini": {"input": 0.00015, "output": 0.0006},
            "claude-3-5-sonnet": {"input": 0.003, "output": 0.015},
        },
    )
    # A trace costing more than this fails the cost evaluator.
    cost_budget_usd: float = _flat("cost_budget_usd", 0.05)
    # Terms the guardrail evaluator fails an answer for.
    banned_terms: list[str] = _flat("banned_terms", [])
    # Evaluation agent: traces scored per transaction; the window an evaluation run summarises; the
    # trailing days a run is compared with when its scope has no pinned baseline run.
    batch_size: int = 500
    window_seconds: int = 3600
    baseline_days: int = 7


class MonitorSettings(Group):
    # Monitor agent: per app and signal, the last bucket against the EWMA of the trailing buckets.
    bucket_seconds: int = 300
    history_buckets: int = 288  # 24 hours of 5-minute buckets
    min_samples: int = 20  # traces a bucket needs to count
    min_history: int = 6  # buckets of history before anything is judged
    ewma_alpha: float = 0.3
    z_threshold: float = 3.0
    # The deviation a z-score divides by is at least this (absolute) or this share of the mean.
    std_floor: float = 0.01
    std_floor_relative: float = 0.05


class SchedulerSettings(Group):
    # Scheduler (`metamon scheduler`): intervals in seconds, daily jobs at HH:MM in scheduler.timezone.
    evaluate_seconds: int = 60
    monitor_seconds: int = 300
    daily_run_at: str = "03:00"
    retention_at: str = "04:00"
    digest_at: str = "09:00"
    timezone: str = "UTC"


class UsageSettings(Group):
    # Bucket bounds of metamon_request_duration_seconds. The counters store cumulative counts per
    # bound, so changing this list needs the usage_counters table emptied.
    latency_buckets_seconds: list[float] = _flat(
        "latency_buckets_seconds", [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
    )
    # A trace whose timestamp is older than this when it arrives is a backfill: usage counts it apart
    # (metamon_backfilled_requests_total), never in the request, cost and latency counters that page.
    backfill_after_seconds: PositiveFloat = _flat("backfill_after_seconds", 3600)


class AlertingSettings(Group):
    # Prometheus and Alertmanager: the local stack's ports, and the URLs metamon reaches them at
    # (derived from the ports when empty).
    prometheus_port: int = _flat("prometheus_port", 9090)
    prometheus_url: str = _flat("prometheus_url", "")
    alertmanager_port: int = _flat("alertmanager_port", 9093)
    alertmanager_url: str = _flat("alertmanager_url", "")
    # Alert loop. Alertmanager calls POST /api/v1/alerts/webhook with this bearer token. There is no
    # built-in default: unset, it is read from METAMON_ALERT_WEBHOOK_TOKEN_FILE.
    webhook_token: str = _flat("alert_webhook_token", "")
    # The file holding the webhook token when METAMON_ALERT_WEBHOOK_TOKEN is unset (default
    # <stack.dir>/secrets/alert_webhook_token); the first process to need it writes a random one
    # (mode 0600). Code reads the token with `settings.webhook_token()`.
    webhook_token_file: Path | None = _flat("alert_webhook_token_file", None)
    # Webhook: Alertmanager's notifications are small; a bigger body or more alerts is refused.
    webhook_max_body_bytes: int = _flat("webhook_max_body_bytes", 1024 * 1024)
    webhook_max_alerts: int = _flat("webhook_max_alerts", 1000)


class NotificationSettings(Group):
    # Slack incoming-webhook URL for critical alerts; no Slack receiver is rendered while it is empty.
    slack_webhook_url: str = _flat("slack_webhook_url", "")
    # SMTP for alert emails and the daily digest (the local stack has no mail server of its own).
    smtp_host: str = _flat("smtp_host", "127.0.0.1")
    smtp_port: int = _flat("smtp_port", 1025)
    smtp_username: str = _flat("smtp_username", "")
    smtp_password: str = _flat("smtp_password", "")
    smtp_from: str = _flat("smtp_from", "metamon@localhost")
    alert_email_to: list[str] = _flat("alert_email_to", ["sre@localhost"])
    # The daily digest's recipients for a project that names none of its own
    # (PUT /api/v1/projects/current/digest-recipients).
    digest_email_to: list[str] = _flat("digest_email_to", ["ml-team@localhost"])
    # Links in alert annotations and emails point here (dashboards have fixed UIDs).
    grafana_url: str = _flat("grafana_url", "http://127.0.0.1:3000")


class ResearchSettings(Group):
    # Research agent: a dimension value is tested only with this many traces in the window, and compared
    # with its own baseline only with this many there (else with the whole baseline).
    min_samples: int = 30
    # Family-wise significance of the segment tests (Bonferroni over the values tested per alert).
    significance: float = 0.01
    # The window before an alert that the research agent analyses.
    window_seconds: int = 3600
    # The baseline window when the caller gives none: this many days before the alert's window.
    baseline_days: float = 7.0
    # Evidence kept on a proposal: failing trace ids, and distinct failure reasons with their counts.
    evidence_traces: int = 20
    evidence_reasons: int = 10
    # PostgreSQL work_mem for the segment query alone (its hash join holds a small row per scored trace).
    work_mem: str = "64MB"
    # While an alert fires, the worker re-runs research on its pending proposal at most this often, and
    # only once new traces arrived.
    revise_seconds: float = 60.0


class ValidationSettings(Group):
    # Validation agent: target calls in flight at once, and seconds per call (an overrun fails the case).
    concurrency: int = 8
    timeout_seconds: float = 30.0
    # Evaluators the golden replay scores both configs with (names from agents/evaluation/registry.py).
    evaluators: list[str] = ["fact_accuracy", "guardrails"]
    # Verdict: pass rate not lower, improvement shown (McNemar p < alpha, or the bootstrap CI of the
    # mean score delta above 0), and at most this many regressions (pass → fail, or a case's score
    # falling by more than validation.score_drop).
    alpha: float = 0.05
    max_regressions: int = 2
    score_drop: float = 0.1
    bootstrap_resamples: int = 2000
    # The registered targets the validation agent replays golden cases through, by name: an http(s)
    # endpoint or a Python callable "module:function". A validation uses the one named like the
    # proposal's app, else "default"; a request may name another registered one, nothing else (a URL
    # or module in a request is a 422). Only operators set these: settings are server-side.
    targets: dict[str, str] = {"default": "metamon.monitoring.demo.sample_app:answer"}
    # Hosts a registered http(s) validation target may point at; any other is refused (422).
    allowed_hosts: list[str] = ["127.0.0.1", "localhost", "::1"]
    # A proposal `validating` this long with no worker replaying it (the worker crashed, or none runs)
    # is swept back to failed_validation by the worker, with the reason in the audit log.
    stale_seconds: float = 1800.0


class ProposalSettings(Group):
    # Approving a proposal that is high-risk, or expected to gain at least this much of its metric,
    # needs a reviewer and a comment; the optional policy approves validated low-risk ones by itself.
    high_impact_improvement: float = _flat("high_impact_improvement", 0.05)
    auto_approve_low_risk: bool = _flat("auto_approve_low_risk", False)


class RolloutSettings(Group):
    # The candidate config's share of traffic at each stage (rising, the last 100). The monitor moves
    # one stage per run once both the candidate's traces and the others since the rollout began have
    # rollout.min_samples scored for the proposal's metric, and rolls back instead when the
    # candidate's metric is worse than the others' by more than rollout.max_degradation (relative).
    stages: list[int] = [10, 50, 100]
    min_samples: int = 100
    max_degradation: float = 0.05
    # Impact: the before/after two-proportion test's significance level, and what one percentage point
    # of the metric (one failure fewer per 100 requests) is worth per 1,000 requests, in USD. ROI per 30
    # days = (failure rate before - after, in points) x impact_value_per_point_usd
    #        x (the app's requests in the last 7 days x 30/7) / 1000.
    impact_alpha: float = _flat("impact_alpha", 0.05)
    impact_value_per_point_usd: float = _flat("impact_value_per_point_usd", 1.0)

    @field_validator("stages")
    @classmethod
    def _stages_rise_to_100(cls, stages: list[int]) -> list[int]:
        if not stages or stages != sorted(set(stages)) or stages[0] < 1 or stages[-1] != 100:
            raise ValueError("rollout stages must rise from at least 1 and end at 100, e.g. [10, 50, 100]")
        return stages


class ExporterSettings(Group):
    # Where the exporter listens (on api.host).
    port: int = 9464
    # Collectors reuse what they read for this long (bounds database load when several Prometheus
    # servers scrape); each label keeps this many values, the rest fold into "other".
    cache_seconds: float = 5.0
    label_cap: int = 50
    # Evaluation runs older than this are not published (the EvaluationStale alert covers the gap).
    run_max_age_hours: int = 48


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METAMON_", env_file=".env", extra="ignore")

    # The folder holding the rendered config users mount (prometheus/, grafana/, elasticsearch/), which
    # `metamon stack up` and the generators work on: a checkout, by default the current directory. The
    # services never read it; what they read is package data.
    config_dir: Path = Path(".")
    # Retention: traces (with their spans, scores and labels), runs, resolved alerts and job records
    # older than this are deleted; monthly search indices go once their whole month is older.
    retention_days: int = 30
    # Log level of every metamon process.
    log_level: str = "INFO"

    stack: StackSettings = Field(default_factory=StackSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    research: ResearchSettings = Field(default_factory=ResearchSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    proposals: ProposalSettings = Field(default_factory=ProposalSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    exporter: ExporterSettings = Field(default_factory=ExporterSettings)

    _webhook_token: str | None = PrivateAttr(None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment and `.env` read by the flat names (METAMON_POSTGRES_HOST...), which
        `_nest` then files into their groups."""
        environment = _flat_environment()
        dotenv = DotEnvSettingsSource(
            environment,
            env_file=dotenv_settings.env_file,
            env_file_encoding=dotenv_settings.env_file_encoding,
        )
        return init_settings, EnvSettingsSource(environment), dotenv, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _nest(cls, data: object) -> object:
        """Flat names (from the environment, `.env` or keyword arguments) into their groups; a value
        given in its group wins."""
        if not isinstance(data, dict):
            return data
        nested = {k: v for k, v in data.items() if k not in ENVIRONMENT or ENVIRONMENT[k][0] is None}
        for key, value in data.items():
            group, field = ENVIRONMENT.get(key, (None, None))
            if group is None:
                continue
            given = nested.get(group, {})
            given = given.model_dump() if isinstance(given, BaseModel) else dict(given)
            given.setdefault(field, value)
            nested[group] = given
        return nested

    @model_validator(mode="after")
    def _derive_urls(self) -> "Settings":
        self.config_dir = self.config_dir.resolve()
        self.stack.dir = self.stack.dir.resolve()
        db = self.database
        if not db.url:
            db.url = f"postgresql+psycopg://{db.user}:{db.password}@{db.host}:{db.port}/{db.name}"
        self.search.url = self.search.url or f"http://127.0.0.1:{self.search.port}"
        alerting = self.alerting
        alerting.prometheus_url = alerting.prometheus_url or f"http://127.0.0.1:{alerting.prometheus_port}"
        alerting.alertmanager_url = (
            alerting.alertmanager_url or f"http://127.0.0.1:{alerting.alertmanager_port}"
        )
        alerting.webhook_token_file = (
            alerting.webhook_token_file or self.stack.dir / "secrets" / "alert_webhook_token"
        ).resolve()
        return self

    def model_copy(self, *, update: dict | None = None, deep: bool = False) -> "Settings":
        """A copy; `update` may name fields by their flat names (`{"api_port": 9000}`)."""
        if not update:
            return super().model_copy(deep=deep)
        top, groups = {}, {}
        for key, value in update.items():
            group, field = ENVIRONMENT.get(key, (None, key))
            if group is None:
                top[key] = value
            else:
                groups.setdefault(group, {})[field] = value
        for group, fields in groups.items():
            top[group] = (top.get(group) or getattr(self, group)).model_copy(update=fields)
        return super().model_copy(update=top, deep=deep)

    def webhook_token(self) -> str:
        """The webhook's bearer token: the setting, else the file's (generated on first use). Read
        once per settings object: the webhook checks it on every notification."""
        if self._webhook_token is None:
            self._webhook_token = self.alerting.webhook_token or read_or_create_secret(
                self.alerting.webhook_token_file
            )
        return self._webhook_token


GROUPS: dict[str, type[Group]] = {
    name: field.annotation
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Group)
}


def _environment() -> dict[str, tuple[str | None, str]]:
    """Flat name (METAMON_ without its prefix, lower case) -> (group, field); group None: a top-level
    field."""
    found: dict[str, tuple[str | None, str]] = {
        n: (None, n) for n in Settings.model_fields if n not in GROUPS
    }
    for group, model in GROUPS.items():
        for field, info in model.model_fields.items():
            found[info.validation_alias or f"{group}_{field}"] = (group, field)
    return found


ENVIRONMENT = _environment()


@lru_cache
def _flat_environment() -> type[BaseSettings]:
    """A settings class with one optional field per flat name, for pydantic-settings to read (and decode
    JSON values of) the environment and `.env` by."""
    fields = {}
    for name, (group, field) in ENVIRONMENT.items():
        info = (GROUPS[group] if group else Settings).model_fields[field]
        fields[name] = (info.annotation | None, None)
    return create_model("FlatEnvironment", __base__=_FlatBase, **fields)


class _FlatBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METAMON_", extra="ignore")


@lru_cache
def get_settings() -> Settings:
    return Settings()
