"""Model calls through litellm (imported on first call), or to a local model (local.py), with timeouts, error
classes and retries.

Temporary failures (rate limits, timeouts, unavailable servers, lost connections) are retried with
exponential backoff; everything else (bad key, bad request, unknown model) fails at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LOCAL", "LlmError", "Reply", "Request", "complete", "complete_with_retries", "is_local", "response_format"]

LOCAL = "local/"
"""The prefix of models served in-process by llama.cpp (local.py) rather than through litellm."""


@dataclass(frozen=True, slots=True)
class Request:
    """Everything one chat completion needs."""

    model: str
    messages: tuple[tuple[str, str], ...]
    """(role, content) pairs."""
    api_base: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    temperature: float = 0.2
    max_tokens: int = 2000
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A model's answer: its text, token counts, cost (None when the model has no price) and latency."""

    text: str
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    latency_ms: float


class LlmError(Exception):
    """A failed call; ``temporary`` ones may succeed if tried again."""

    def __init__(self, message: str, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.tries = 1


def _litellm() -> Any:
    # The cost map is bundled with litellm; without this it is fetched from the network at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True  # its "Give Feedback" banner on every error
    return litellm


_TEMPORARY = (
    "RateLimitError",
    "Timeout",
    "ServiceUnavailableError",
    "APIConnectionError",
    "InternalServerError",
    "BadGatewayError",
)


def _classify(exc: Exception) -> LlmError:
    names = {cls.__name__ for cls in type(exc).__mro__}
    # litellm reports a provider client it could not build for want of a key as an InternalServerError.
    missing_key = "Missing credentials" in str(exc) or "api_key client option must be set" in str(exc)
    temporary = bool(names & set(_TEMPORARY)) and "ContextWindowExceededError" not in names and not missing_key
    status = getattr(exc, "status_code", None)
    first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    label = type(exc).__name__ + (f" ({status})" if status else "")
    return LlmError(f"{label}: {first_line}" if first_line else label, temporary)


def response_format(model: str, schema: dict[str, Any], mode: str) -> dict[str, Any] | None:
    """Structured output with ``schema`` where the provider supports it (``auto``), JSON mode otherwise."""
    if mode == "none":
        return None
    if mode == "schema" or (mode == "auto" and _supports_schema(model)):
        return {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}
    return {"type": "json_object"}


def is_local(model: str) -> bool:
    """Whether ``model`` is served in-process by llama.cpp rather than through litellm."""
    return model.startswith(LOCAL)


def _supports_schema(model: str) -> bool:
    if is_local(model):  # a grammar holds a local model to any schema
        return True
    try:
        return bool(_litellm().supports_response_schema(model=model))
    except Exception:
        return False


def complete(request: Request) -> Reply:
    """One chat completion, from a local model (``local/...``) or through litellm; raises LlmError."""
    if is_local(request.model):
        from runner.llm import local  # llama.cpp, not litellm

        return local.complete(request)
    litellm = _litellm()
    kwargs: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": role, "content": content} for role, content in request.messages],
        "timeout": request.timeout_s,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "num_retries": 0,
        "max_retries": 0,
    }
    if request.api_base:
        kwargs["api_base"] = request.api_base
    if request.api_key:
        kwargs["api_key"] = request.api_key
    if request.response_format is not None:
        kwargs["response_format"] = request.response_format
    started = time.perf_counter()
    try:
        response = litellm.completion(**kwargs)
    except Exception as exc:
        error = _classify(exc)
        if request.api_key and request.api_key in str(error):  # some servers echo the key they refused
            error = LlmError(str(error).replace(request.api_key, "<hidden>"), error.temporary)
        raise error from None
    latency_ms = (time.perf_counter() - started) * 1000
    choices = getattr(response, "choices", None) or []
    text = (choices[0].message.content or "") if choices else ""
    usage = getattr(response, "usage", None)
    return Reply(
        text,
        getattr(usage, "prompt_tokens", None),
        getattr(usage, "completion_tokens", None),
        _cost(litellm, response),
        latency_ms,
    )


def _cost(litellm: Any, response: Any) -> float | None:
    try:
        return float(litellm.completion_cost(completion_response=response))
    except Exception:
        return None  # a model without a price in litellm's map


def complete_with_retries(
    request: Request,
    retries: int,
    backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
    call: Callable[[Request], Reply] = complete,
) -> tuple[Reply, int]:
    """The reply and the number of requests made; temporary errors are retried ``retries`` times,
    waiting ``backoff_s``, then twice that, and so on. Raises the last LlmError."""
    tries = 0
    while True:
        tries += 1
        try:
            return call(request), tries
        except LlmError as exc:
            exc.tries = tries
            if not exc.temporary or tries > retries:
                raise
        sleep(backoff_s * 2 ** (tries - 1))


def count_tokens(model: str, messages: tuple[tuple[str, str], ...]) -> int | None:
    """How many tokens ``messages`` are for ``model``, by litellm's counter; None if it cannot tell."""
    try:
        return int(_litellm().token_counter(model=model, messages=[{"role": r, "content": c} for r, c in messages]))
    except Exception:
        return None
