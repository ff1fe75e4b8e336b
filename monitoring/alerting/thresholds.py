"""thresholds.yaml (package data beside this module): the one source of alert levels, `for` durations,
SLO objectives and windows."""

import re
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

THRESHOLDS_PATH = Path(str(files(__package__) / "thresholds.yaml"))
PROFILES = ("standard", "fast")

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")

Duration = Annotated[str, StringConstraints(pattern=r"^(\d+(ms|s|m|h|d|w|y))+$")]
Ratio = Annotated[float, Field(gt=0, lt=1)]


def seconds(duration: str) -> float:
    """A Prometheus duration ("1h30m") in seconds."""
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(duration))


class _Strict(BaseModel):
    # A typo in the YAML must fail loudly, not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Links(_Strict):
    runbook: str
    grafana: str


class FactAccuracyLevels(_Strict):
    high: Ratio
    critical: Ratio


class Levels(_Strict):
    fact_accuracy: FactAccuracyLevels
    fact_accuracy_drop: Ratio
    guardrail_pass: Ratio
    error_ratio: Ratio
    llm_cost_dollars_per_hour: float = Field(gt=0)
    review_backlog_traces: int = Field(gt=0)
    anomaly_score: float = Field(gt=0)
    min_window_traces: int = Field(gt=0)
    min_window_requests: int = Field(gt=0)


class BurnRates(_Strict):
    critical: float = Field(gt=1)
    high: float = Field(gt=1)


class LatencySLO(_Strict):
    objective: Ratio
    burn_rates: BurnRates


class SLOs(_Strict):
    latency: LatencySLO


class ForDurations(_Strict):
    fact_accuracy_low: Duration
    fact_accuracy_dropping: Duration
    guardrail_pass_low: Duration
    error_ratio_spike: Duration
    llm_cost_high: Duration
    evaluation_stale: Duration
    component_down: Duration
    index_backlog: Duration
    index_dead_letters: Duration
    evaluator_errors: Duration
    review_backlog: Duration
    anomaly_score_high: Duration


class BurnWindow(_Strict):
    long: Duration
    short: Duration
    for_: Duration = Field(alias="for")

    @field_validator("short")
    @classmethod
    def _short_below_long(cls, short: str, info) -> str:
        if "long" in info.data and seconds(short) >= seconds(info.data["long"]):
            raise ValueError("the short window must be shorter than the long one")
        return short


class BurnWindows(_Strict):
    critical: BurnWindow
    high: BurnWindow


class Windows(_Strict):
    error_ratio: Duration
    llm_cost: Duration
    evaluator_errors: Duration
    fact_accuracy_baseline: Duration
    latency_burn: BurnWindows

    @property
    def burn_windows(self) -> list[str]:
        """The windows of the multi-window burn-rate alerts, shortest first."""
        burn = self.latency_burn
        return sorted({burn.critical.long, burn.critical.short, burn.high.long, burn.high.short}, key=seconds)


class Profile(_Strict):
    evaluation_interval: Duration
    for_: ForDurations = Field(alias="for")
    windows: Windows
    keep_firing_for: Duration
    evaluation_stale_after: Duration
    index_backlog_max_age: Duration


class ApiLatencyWindow(_Strict):
    window: Duration
    for_: Duration = Field(alias="for")


class ApiLatencySLO(_Strict):
    """The metamon API's own latency objective: `quantile` of each route's requests within `seconds`."""

    quantile: float = Field(gt=0, lt=1)
    seconds: float = Field(gt=0)
    min_requests_per_second: float = Field(ge=0)
    profiles: dict[str, ApiLatencyWindow]


class Thresholds(_Strict):
    links: Links
    levels: Levels
    slo: SLOs
    api_latency: ApiLatencySLO
    profiles: dict[str, Profile]

    @field_validator("profiles")
    @classmethod
    def _both_profiles(cls, profiles: dict[str, Profile]) -> dict[str, Profile]:
        if sorted(profiles) != sorted(PROFILES):
            raise ValueError(f"profiles must be exactly {', '.join(PROFILES)}; got {', '.join(profiles)}")
        return profiles


def load_thresholds(path: Path = THRESHOLDS_PATH) -> Thresholds:
    return Thresholds.model_validate(yaml.safe_load(path.read_text()))
