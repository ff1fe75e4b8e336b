"""Rolling out an approved proposal: a candidate config version serves a growing share of the app's traffic
(settings.rollout.stages, 10% -> 50% -> 100%), then becomes the app's active config and the proposal is
implemented; or it is rolled back and serves nobody. Target apps follow through `GET /api/v1/configs/{app}`.

Every move is audited in the caller's transaction; one the proposal's state does not allow raises
InvalidTransition (409 in the API). Leaving a stage stores the impact measured so far."""

from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import AppConfig, ImprovementImpact, ImprovementProposal
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.audit import record
from metamon.monitoring.workflow.configs import active_config, candidate_config
from metamon.monitoring.workflow.impact import measure
from metamon.monitoring.workflow.proposals import InvalidTransition, transition


def serving_candidate(session: Session, project_id, app: str) -> AppConfig | None:
    """The config a rollout in progress serves to part of the app's traffic, if any."""
    return session.scalar(
        select(AppConfig)
        .where(
            AppConfig.project_id == project_id,
            AppConfig.app == app,
            ~AppConfig.is_active,
            AppConfig.rollout_percent > 0,
        )
        .order_by(AppConfig.version.desc())
        .limit(1)
    )


def candidate_of(session: Session, proposal: ImprovementProposal) -> AppConfig | None:
    return session.scalar(
        select(AppConfig)
        .where(AppConfig.proposal_id == proposal.id)
        .order_by(AppConfig.version.desc())
        .limit(1)
    )


def _lock_app(session: Session, project_id, app: str) -> None:
    # Config changes of one app queue on this lock until the transaction ends: two rollouts cannot
    # both start, pick the same version number, or activate a config at the same time.
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"app_configs:{project_id}:{app}"},
    )


def _audit_config(session: Session, row: AppConfig, action: str, actor: str, **after) -> None:
    record(
        session,
        project_id=row.project_id,
        actor=actor,
        action=action,
        entity_type="app_config",
        entity_id=row.id,
        after={"app": row.app, "version": row.version, **after},
    )


def start_rollout(
    session: Session, settings: Settings, proposal: ImprovementProposal, actor: str
) -> AppConfig:
    """Create the candidate config (the active one with the recommended change applied, as version n+1)
    serving the first stage's share of traffic, and move the proposal to rolling_out."""
    if proposal.status != "approved":
        raise InvalidTransition(f"the proposal is {proposal.status}: only an approved one starts rolling out")
    app = proposal.app or "default"
    _lock_app(session, proposal.project_id, app)
    active = active_config(session, proposal.project_id, app)
    config = candidate_config(active.config if active else {}, proposal.recommended_change)
    if config is None:
        raise InvalidTransition(f"{proposal.proposal_type} changes no config: nothing to roll out")
    busy = serving_candidate(session, proposal.project_id, app)
    if busy is not None:
        raise InvalidTransition(f"{app} is already rolling out config version {busy.version}")
    if active is None:
        # The app has run without a stored config so far: that is version 1, the empty config.
        active = AppConfig(project_id=proposal.project_id, app=app, version=1, config={}, is_active=True)
        session.add(active)
        session.flush()
        _audit_config(session, active, "config.created", actor, config={}, is_active=True)
    latest = session.scalar(
        select(func.max(AppConfig.version)).where(
            AppConfig.project_id == proposal.project_id, AppConfig.app == app
        )
    )
    first = settings.rollout.stages[0]
    candidate = AppConfig(
        project_id=proposal.project_id,
        app=app,
        version=latest + 1,
        config=config,
        rollout_percent=first,
        proposal_id=proposal.id,
    )
    session.add(candidate)
    session.flush()
    _audit_config(session, candidate, "config.created", actor, config=config, rollout_percent=first)
    transition(
        session,
        proposal,
        "rolling_out",
        actor=actor,
        details={"rollout_percent": first, "config_version": candidate.version},
    )
    proposal.rollout_percent = first
    return candidate


def _rolling_candidate(session: Session, proposal: ImprovementProposal) -> AppConfig:
    if proposal.status != "rolling_out":
        raise InvalidTransition(f"the proposal is {proposal.status}, not rolling out")
    candidate = candidate_of(session, proposal)
    if candidate is None:
        raise InvalidTransition("the proposal is rolling out no config")
    _lock_app(session, proposal.project_id, candidate.app)
    return candidate


def advance(
    session: Session,
    settings: Settings,
    proposal: ImprovementProposal,
    actor: str,
    *,
    now: datetime | None = None,
) -> ImprovementImpact | None:
    """Measure the stage the rollout is leaving, then move it to the next stage; after the last one the
    candidate becomes the app's active config (the old one inactive, in this transaction) and the
    proposal is implemented. Returns the impact measured (None when the proposal names no metric)."""
    candidate = _rolling_candidate(session, proposal)
    impact = measure(session, settings, proposal, candidate, now or datetime.now(UTC))
    before = proposal.rollout_percent
    later = [stage for stage in settings.rollout.stages if stage > before]
    if later:
        candidate.rollout_percent = proposal.rollout_percent = later[0]
        record(
            session,
            project_id=proposal.project_id,
            actor=actor,
            action="proposal.rollout_stage",
            entity_type="proposal",
            entity_id=proposal.id,
            before={"rollout_percent": before},
            after={"rollout_percent": later[0], "config_version": candidate.version},
        )
        session.flush()
        return impact
    old = active_config(session, proposal.project_id, candidate.app)
    if old is not None:
        old.is_active = False
        session.flush()  # before the candidate turns active: one active config per app, per statement
    candidate.is_active, candidate.rollout_percent = True, 100
    session.flush()
    _audit_config(
        session, candidate, "config.activated", actor, replaces_version=old.version if old else None
    )
    transition(session, proposal, "implemented", actor=actor, details={"config_version": candidate.version})
    proposal.rollout_percent = 100
    return impact


def rollback(
    session: Session,
    settings: Settings,
    proposal: ImprovementProposal,
    actor: str,
    reason: str,
    *,
    now: datetime | None = None,
) -> ImprovementImpact | None:
    """Take the candidate off all traffic and mark the proposal rolled back, keeping the impact measured
    at the stage it reached."""
    candidate = _rolling_candidate(session, proposal)
    impact = measure(session, settings, proposal, candidate, now or datetime.now(UTC))
    stage = proposal.rollout_percent
    candidate.rollout_percent = proposal.rollout_percent = 0
    transition(
        session,
        proposal,
        "rolled_back",
        actor=actor,
        details={"reason": reason, "config_version": candidate.version, "at_rollout_percent": stage},
    )
    return impact


def publish(session: Session, project_id, app: str, config: dict, actor: str) -> AppConfig:
    """A release outside any proposal (the app's own deploy): the config becomes the active version n+1
    at once. Refused while a rollout of the app is in progress."""
    _lock_app(session, project_id, app)
    busy = serving_candidate(session, project_id, app)
    if busy is not None:
        raise InvalidTransition(
            f"{app} is rolling out config version {busy.version}: finish or roll it back first"
        )
    latest = session.scalar(
        select(func.max(AppConfig.version)).where(AppConfig.project_id == project_id, AppConfig.app == app)
    )
    previous = active_config(session, project_id, app)
    if previous is not None:
        previous.is_active = False
        session.flush()
    row = AppConfig(project_id=project_id, app=app, version=(latest or 0) + 1, config=config, is_active=True)
    session.add(row)
    session.flush()
    _audit_config(session, row, "config.published", actor, config=config, is_active=True)
    return row
