"""The LangChain chat model of the LLM judge and the research narrative, when one is configured.

`METAMON_LLM_MODEL="provider:model"` goes to LangChain's `init_chat_model` (openai:gpt-4o-mini,
anthropic:claude-3-5-sonnet-latest, ollama:llama3…; the provider's LangChain package must be installed),
or `METAMON_LLM_FACTORY="package.module:function"` names a function returning any `BaseChatModel`.
Without either, the agents run their deterministic analysis alone."""

import logging
from functools import cache

from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel

from metamon.monitoring.importing import import_object
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)


class ChatModelError(RuntimeError):
    pass


@cache
def _build(model: str, factory: str) -> BaseChatModel:
    try:
        built = import_object(factory)() if factory else init_chat_model(model)
    except Exception as exc:  # a missing provider package, a bad name, a factory that raises
        raise ChatModelError(f"could not build the chat model {factory or model!r}: {exc}") from exc
    if not isinstance(built, BaseChatModel):
        raise ChatModelError(f"{factory} returned {type(built).__name__}, not a LangChain chat model")
    return built


def configured_chat_model(settings: Settings) -> BaseChatModel | None:
    """The configured model (built once per process), or None when none is configured. A model that
    cannot be built is logged and treated as none: the deterministic path must keep working."""
    if not settings.llm.model and not settings.llm.factory:
        return None
    try:
        return _build(settings.llm.model, settings.llm.factory)
    except ChatModelError as exc:
        log.error("%s; the agents go on without an LLM", exc)
        return None
