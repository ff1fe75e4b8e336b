"""A validation target that takes its time, so a test can kill the worker in the middle of a replay."""

import time

from metamon.monitoring.demo.sample_app import answer as sample_answer


def answer(input: str, retrieved_context: list[dict], config: dict) -> dict:
    time.sleep(0.1)
    return sample_answer(input, retrieved_context, config)
