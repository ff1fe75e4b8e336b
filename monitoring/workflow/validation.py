"""Validating a proposal in three commits: the `validating` state before the golden replay starts (so
everyone sees it, and a second request is refused, while the replay runs), then the verdict, or, when
the replay could not finish, `failed_validation` with the error."""

import uuid

from metamon.agents.validation.agent import validate
from metamon.agents.validation.targets import target_from_spec
from metamon.monitoring.db.models import ImprovementProposal, ValidationResult
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.configs import active_config, candidate_config
from metamon.monitoring.workflow.proposals import auto_approve, transition

ACTOR = "validation-agent"


class NoSuchProposal(LookupError):
    pass


class NothingToValidate(ValueError):
    """The proposal changes no config (the API answers 409)."""


class BadTarget(ValueError):
    """The target names no endpoint or callable (the API answers 422)."""


def validate_proposal(
    settings: Settings,
    *,
    project_id: uuid.UUID,
    proposal_id: uuid.UUID,
    target: str | None = None,
    tags: list[str] | None = None,
) -> uuid.UUID:
    """Replay the golden dataset through the app's active config and the proposal's candidate, and
    move the proposal to validated or failed_validation; returns the validation result's id. Raises
    InvalidTransition when the proposal is not pending or failed_validation, NoGoldenCases when the
    app has no golden cases (the proposal is then failed_validation, with that reason)."""
    with session_scope(settings.database_url) as session:
        proposal = session.get(ImprovementProposal, proposal_id, with_for_update=True)
        if proposal is None or proposal.project_id != project_id:
            raise NoSuchProposal("no such proposal")
        app = proposal.app or "default"
        active = active_config(session, project_id, app)
        baseline = active.config if active else {}
        candidate = candidate_config(baseline, proposal.recommended_change)
        if candidate is None:
            raise NothingToValidate(
                f"a {proposal.proposal_type} proposal changes no config: nothing to validate"
            )
        spec = target or settings.validation_targets.get(app, settings.validation_targets.get("default", ""))
        try:
            resolved = target_from_spec(spec, settings)
        except (ValueError, ImportError, AttributeError) as exc:
            raise BadTarget(f"validation target {spec!r}: {exc}") from None
        transition(session, proposal, "validating", actor=ACTOR)
    try:
        with session_scope(settings.database_url) as session:
            result: ValidationResult = validate(
                session,
                settings,
                project_id=project_id,
                proposal_id=proposal_id,
                app=app,
                baseline_config=baseline,
                candidate_config=candidate,
                target=resolved,
                tags=tags,
            )
            proposal = session.get(ImprovementProposal, proposal_id, with_for_update=True)
            verdict = "validated" if result.passed else "failed_validation"
            transition(session, proposal, verdict, actor=ACTOR, details={"validation_id": str(result.id)})
            auto_approve(session, settings, proposal)
            return result.id
    except Exception as exc:
        with session_scope(settings.database_url) as session:
            proposal = session.get(ImprovementProposal, proposal_id, with_for_update=True)
            transition(
                session,
                proposal,
                "failed_validation",
                actor=ACTOR,
                details={"error": f"{type(exc).__name__}: {exc}"},
            )
        raise
