"""A tiny RAG-style answerer whose quality depends on its config, so validation has something to find.

It answers from the retrieved context it is given, as a real RAG app would after its retriever ran:
- `top_k` (default 3): how many of the ranked passages it reads; facts further down are missed.
- `prompt_version`: "v1" keeps the single most relevant sentence of each passage (facts spread over
  several sentences are lost); "v2" keeps every relevant sentence; "v3", a "concise rewrite" prompt,
  paraphrases numbers and dates ("$49" becomes "about $50", "2024-10-15" becomes "mid October 2024")
  and no longer strips contact details.
- `model`: only changes the reported tokens, cost and latency.
- `faults` (for tests and demos of failure handling): {"stall_on": [phrases], "stall_seconds": s,
  "error_on": [phrases]} stalls or fails on inputs containing a phrase.

Exposed as the callable `answer` ("metamon.monitoring.demo.sample_app:answer") and as the ASGI app `app`
(POST /answer), both taking {"input", "retrieved_context", "config"}.
"""

import asyncio
import re
import time

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

STOP_WORDS = set(
    "a an the is are was were be been of to in on at for with by from and or not no it its this that as "
    "what when where which who whom how why do does did can could should would will i my me we our you "
    "your if there than then per much many long get need any after before within up".split()
)
WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
PHONE = re.compile(r"\+\d{1,3}[\s.-]?\(?\d{2,4}\)?[\s.-]\d{3,4}[\s.-]\d{3,4}\b")
CONTACT = re.compile(f"({EMAIL.pattern}|{PHONE.pattern})")
NOT_FOUND = "The documentation I was given does not cover this."

# USD per 1,000 tokens, and seconds per request plus per output token, of the models the app can use.
MODELS = {
    "gpt-4o": {"input": 0.0025, "output": 0.01, "base_seconds": 0.6, "seconds_per_token": 0.012},
    "gpt-4o-mini": {"input": 0.00015, "output": 0.0006, "base_seconds": 0.3, "seconds_per_token": 0.006},
}
MONTHS = "January February March April May June July August September October November December".split()
SMALL_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()
_MONTH = "|".join(MONTHS)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DATE_MDY = re.compile(rf"\b({_MONTH}) (\d{{1,2}}), (\d{{4}})\b")
_DATE_DMY = re.compile(rf"\b(\d{{1,2}}) ({_MONTH}) (\d{{4}})\b")
# A number not glued to a word, a dot or a dash (identifiers like INV-2024-0412 and sha256 stay intact).
_NUMBER = re.compile(r"(?<![\w.,\-])([$€£]?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\w\-]|[.,]\d)")


def words(text: str) -> set[str]:
    found = WORD.findall(text.lower())
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in found if w not in STOP_WORDS}


def relevant_sentences(question: str, passages: list[dict], *, best_only: bool) -> list[tuple[str, str]]:
    """(source_id, sentence) pairs that share a content word with the question, in reading order."""
    asked = words(question)
    picked = []
    for doc in passages:
        scored = [
            (len(asked & words(s)), -i, s) for i, s in enumerate(SENTENCE_END.split(str(doc["content"])))
        ]
        scored = [x for x in scored if x[0] > 0]
        if best_only and scored:
            scored = [max(scored)]
        picked += [(str(doc.get("source_id", "")), s) for _, _, s in sorted(scored, key=lambda x: -x[1])]
    return picked


def _vague_day(day: str) -> str:
    return "early" if int(day) <= 10 else "mid" if int(day) <= 20 else "late"


def paraphrase(text: str) -> str:
    """What the v3 prompt does to figures: dates lose their day, numbers are rounded or spelled out.
    Contact details are copied as they are (v3 no longer strips them)."""
    parts = CONTACT.split(text)
    return "".join(part if i % 2 else _paraphrase_figures(part) for i, part in enumerate(parts))


def _paraphrase_figures(text: str) -> str:
    text = _DATE_ISO.sub(lambda m: f"{_vague_day(m[3])} {MONTHS[int(m[2]) - 1]} {m[1]}", text)
    text = _DATE_MDY.sub(lambda m: f"{_vague_day(m[2])} {m[1]} {m[3]}", text)
    text = _DATE_DMY.sub(lambda m: f"{_vague_day(m[1])} {m[2]} {m[3]}", text)

    def number(match: re.Match) -> str:
        symbol, digits = match[1], match[2]
        value = float(digits.replace(",", ""))
        if 1900 <= value <= 2100 and not symbol:  # a year
            return match[0]
        if value.is_integer() and value <= 12 and not symbol:
            return SMALL_NUMBERS[int(value)]
        magnitude = 10 ** (len(str(int(value))) - 1)
        rounded = round(value / magnitude) * magnitude
        if rounded == value:
            return match[0]
        return f"about {symbol}{rounded:,.0f}"

    return _NUMBER.sub(number, text)


def redact(text: str) -> str:
    return PHONE.sub("[phone removed]", EMAIL.sub("[email removed]", text))


def compose(question: str, retrieved_context: list[dict], config: dict) -> dict:
    """The answer and what the call would have cost; pure and deterministic."""
    version = str(config.get("prompt_version", "v2"))
    top_k = int(config.get("top_k", 3))
    model = MODELS.get(str(config.get("model", "gpt-4o-mini")), MODELS["gpt-4o-mini"])
    passages = list(retrieved_context or [])[:top_k]
    picked = relevant_sentences(question, passages, best_only=version == "v1")
    output = " ".join(s for _, s in picked) or NOT_FOUND
    output = paraphrase(output) if version == "v3" else redact(output)
    input_tokens = (len(question) + sum(len(str(d.get("content", ""))) for d in passages)) // 4 + 150
    output_tokens = len(output) // 4 + 1
    return {
        "output": output,
        "latency_seconds": round(model["base_seconds"] + model["seconds_per_token"] * output_tokens, 3),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": round((input_tokens * model["input"] + output_tokens * model["output"]) / 1000, 6),
        "status": "ok",
    }


def injected_faults(question: str, config: dict) -> tuple[float, str | None]:
    """(seconds to stall, error message) that the config's faults ask for on this input."""
    faults = config.get("faults") or {}
    lowered = question.lower()
    stall = float(faults.get("stall_seconds", 5.0)) if _hit(lowered, faults.get("stall_on")) else 0.0
    error = "upstream model error (injected)" if _hit(lowered, faults.get("error_on")) else None
    return stall, error


def _hit(text: str, phrases: list[str] | None) -> bool:
    return any(p.lower() in text for p in phrases or [])


def answer(input: str, retrieved_context: list[dict], config: dict) -> dict:
    """The Python-callable form."""
    stall, error = injected_faults(input, config)
    if stall:
        time.sleep(stall)
    if error:
        raise RuntimeError(error)
    return compose(input, retrieved_context, config)


class AnswerRequest(BaseModel):
    input: str
    retrieved_context: list[dict] = Field(default_factory=list)
    config: dict = Field(default_factory=dict)


app = FastAPI(title="metamon sample RAG app")


@app.post("/answer")
async def answer_endpoint(request: AnswerRequest) -> dict:
    """The HTTP form; a stall sleeps without blocking other requests."""
    stall, error = injected_faults(request.input, request.config)
    if stall:
        await asyncio.sleep(stall)
    if error:
        raise HTTPException(status_code=502, detail=error)
    return compose(request.input, request.retrieved_context, request.config)
