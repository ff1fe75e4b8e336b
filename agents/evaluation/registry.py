"""The evaluators the evaluation agent runs, built from the settings."""

from langchain_core.language_models import BaseChatModel

from metamon.agents.evaluation.evaluators.base import Evaluator
from metamon.agents.evaluation.evaluators.cost import Cost
from metamon.agents.evaluation.evaluators.embedding_similarity import EmbeddingSimilarity
from metamon.agents.evaluation.evaluators.fact_accuracy import FactAccuracy
from metamon.agents.evaluation.evaluators.guardrails import Guardrails
from metamon.agents.evaluation.evaluators.llm_judge import LlmJudge
from metamon.agents.evaluation.evaluators.sla import Sla
from metamon.agents.llm import configured_chat_model
from metamon.monitoring.settings import Settings


def build_evaluators(settings: Settings, chat_model: BaseChatModel | None = None) -> list[Evaluator]:
    """Every evaluator, available or not: an unavailable one says why and scores nothing. The judge
    uses `chat_model`, else the configured one."""
    return [
        FactAccuracy(),
        Guardrails(settings.evaluation.banned_terms),
        Sla(settings.evaluation.sla_latency_seconds),
        Cost(settings.evaluation.model_prices, settings.evaluation.cost_budget_usd),
        LlmJudge(chat_model or configured_chat_model(settings)),
        EmbeddingSimilarity(),
    ]
