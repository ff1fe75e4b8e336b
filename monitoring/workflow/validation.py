"""Validating a proposal. The request (`request_validation`) checks everything it can, moves the
proposal to `validating` and queues the job in the same commit; a worker (`run_validation`) replays the
golden dataset and commits the verdict, or, when the replay cannot finish, `failed_validation` with the
error. A `validating` proposal no worker holds for `validation_stale_seconds` is swept back to
`failed_validation` with that reason (`sweep_stale_validations`).

Targets are registered by the operator (settings `validation_targets`, by name); a request may only
name one of them."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from metamon.agents.validation.agent import NoGoldenCases, validate
from metamon.agents.validation.golden import load_cases
from metamon.agents.validation.targets import Target, target_from_spec
from metamon.monitoring.db.models import ImprovementProposal, Outbox, ValidationResult
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.outbox import PROPOSAL_VALIDATION
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.configs import active_config, candidate_config
from metamon.monitoring.workflow.proposals import auto_approve, transition

ACTOR = "validation-agent"
SWEEPER = "validation-sweeper"


class NoSuchProposal(LookupError):
    pass


class NothingToValidate(ValueError):
    """The proposal changes no config (the API answers 409)."""


class BadTarget(ValueError):
    """The name is no registered target, or the registered one cannot be used (the API answers 422)."""


def registered_target(settings: Settings, name: str) -> Target:
    """The target registered as `name`; an http(s) one must point at an allowed host."""
    spec = settings.validation.targets.get(name)
    if spec is None:
        known = ", ".join(sorted(settings.validation.targets)) or "none"
        raise BadTarget(f"no validation target is registered as {name!r} (registered: {known})")
    if spec.startswith(("http://", "https://")):
        host = urlsplit(spec).hostname
        if host not in settings.validation.allowed_hosts:
            raise BadTarget(
                f"validation target {name!r} points at {host!r}, which is not in "
                "METAMON_VALIDATION_ALLOWED_HOSTS"
            )
    try:
        return target_from_spec(spec, settings)
    except (ValueError, ImportError, AttributeError) as exc:
        raise BadTarget(f"validation target {name!r} ({spec}) cannot be used: {exc}") from None


def _target_name(settings: Settings, app: str, requested: str | None) -> str:
    if requested is not None:
        return requested
    return app if app in settings.validation.targets else "default"


def _configs(session: Session, proposal: ImprovementProposal) -> tuple[str, dict, dict | None]:
    app = proposal.app or "default"
    active = active_config(session, proposal.project_id, app)
    baseline = active.config if active else {}
    return app, baseline, candidate_config(baseline, proposal.recommended_change)


def request_validation(
    session: Session,
    settings: Settings,
    *,
    project_id: uuid.UUID,
    proposal_id: uuid.UUID,
    target: str | None = None,
    tags: list[str] | None = None,
) -> tuple[ImprovementProposal, str]:
    """Move the proposal to `validating` and queue the replay for a worker, in the caller's
    transaction; returns it and the name of its target. Raises NoSuchProposal, NothingToValidate,
    BadTarget, NoGoldenCases or InvalidTransition (when it is not pending or failed_validation) before
    changing anything."""
    proposal = session.get(ImprovementProposal, proposal_id, with_for_update=True)
    if proposal is None or proposal.project_id != project_id:
        raise NoSuchProposal("no such proposal")
    app, _, candidate = _configs(session, proposal)
    if candidate is None:
        raise NothingToValidate(f"a {proposal.proposal_type} proposal changes no config: nothing to validate")
    name = _target_name(settings, app, target)
    registered_target(settings, name)  # refused now rather than in the worker
    if not load_cases(session, project_id, app=app, tags=tags):
        raise NoGoldenCases(f"no golden cases for app {app!r}" + (f" with tags {tags}" if tags else ""))
    transition(session, proposal, "validating", actor="api", details={"target": name, "tags": tags})
    session.execute(
        insert(Outbox).values(
            topic=PROPOSAL_VALIDATION,
            aggregate_id=str(proposal.id),
            payload={"project_id": str(project_id), "target": name, "tags": tags},
        )
    )
    return proposal, name


def run_validation(settings: Settings, job: Outbox) -> uuid.UUID | None:
    """The worker's part: replay the golden dataset through the app's active config and the
    proposal's candidate and move the proposal to validated or failed_validation; returns the
    validation result's id (None when the proposal is no longer validating: nothing to do)."""
    proposal_id = uuid.UUID(job.aggregate_id)
    try:
        with session_scope(settings.database.url) as session:
            # Not locked while the replay runs: a decision on it meanwhile gets its 409 at once.
            proposal = session.get(ImprovementProposal, proposal_id)
            if proposal is None or proposal.status != "validating":
                return None
            app, baseline, candidate = _configs(session, proposal)
            if candidate is None:
                raise NothingToValidate("the proposal no longer changes any config")
            result: ValidationResult = validate(
                session,
                settings,
                project_id=proposal.project_id,
                proposal_id=proposal_id,
                app=app,
                baseline_config=baseline,
                candidate_config=candidate,
                target=registered_target(settings, job.payload["target"]),
                tags=job.payload.get("tags"),
            )
            session.refresh(proposal, with_for_update=True)
            if proposal.status != "validating":  # swept meanwhile: the result stays on record
                return result.id
            verdict = "validated" if result.passed else "failed_validation"
            transition(session, proposal, verdict, actor=ACTOR, details={"validation_id": str(result.id)})
            auto_approve(session, settings, proposal)
            return result.id
    except Exception as exc:  # the replay could not run: the proposal says why, and can be retried
        with session_scope(settings.database.url) as session:
            proposal = session.get(ImprovementProposal, proposal_id, with_for_update=True)
            if proposal is not None and proposal.status == "validating":
                transition(
                    session,
                    proposal,
                    "failed_validation",
                    actor=ACTOR,
                    details={"error": f"{type(exc).__name__}: {exc}"},
                )
        return None


def sweep_stale_validations(session: Session, settings: Settings) -> list[uuid.UUID]:
    """Move `validating` proposals that no worker holds and that have waited longer than
    `validation_stale_seconds` to `failed_validation`, with the reason in the audit log. A worker holds
    its job row locked for the whole replay, so a locked row means the replay is alive."""
    stale_before = datetime.now(UTC) - timedelta(seconds=settings.validation.stale_seconds)
    stale = session.scalars(
        select(ImprovementProposal)
        .where(ImprovementProposal.status == "validating", ImprovementProposal.updated_at < stale_before)
        .with_for_update(skip_locked=True)
    ).all()
    swept = []
    for proposal in stale:
        pending = select(Outbox.id).where(
            Outbox.topic == PROPOSAL_VALIDATION,
            Outbox.aggregate_id == str(proposal.id),
            Outbox.processed_at.is_(None),
        )
        jobs = session.scalars(pending).all()
        free = session.scalars(pending.with_for_update(skip_locked=True)).all()
        if len(free) < len(jobs):  # a worker is replaying it right now
            continue
        session.execute(update(Outbox).where(Outbox.id.in_(free)).values(processed_at=datetime.now(UTC)))
        transition(
            session,
            proposal,
            "failed_validation",
            actor=SWEEPER,
            details={
                "error": f"no worker finished the validation within {settings.validation.stale_seconds:g} s "
                "(a worker crashed, or none runs: start `metamon worker`); validate it again"
            },
        )
        swept.append(proposal.id)
    return swept
