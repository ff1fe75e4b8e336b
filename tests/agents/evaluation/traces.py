"""Hand-written traces for known-answer evaluator tests."""

from types import SimpleNamespace


def trace(**fields) -> SimpleNamespace:
    base = {
        "app": "support-bot",
        "model": "gpt-4o",
        "input": "",
        "output": "",
        "retrieved_context": [],
        "reference": None,
        "output_schema": None,
        "latency_seconds": None,
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "status": "ok",
        "error_type": None,
    }
    return SimpleNamespace(**(base | fields))
