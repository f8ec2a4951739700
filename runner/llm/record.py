"""One model call as the store keeps it: the prompt, the reply, the plan or why it was refused, and the cost."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LlmCall"]


@dataclass(slots=True)
class LlmCall:
    """A step's request to a model and its outcome: a planner's ``attempt`` 2 is the repair of attempt 1; a
    veto numbers its questions of the cycle."""

    step_id: str
    model: str
    attempt: int
    prompt_system: str
    prompt_user: str
    prompt_hash: str
    response: str = ""
    plan: str | None = None
    """The validated plan as JSON, when the reply was one."""
    error: str = ""
    """Why the reply was refused, or why no reply came; empty when the plan was accepted."""
    rejected: list[str] = field(default_factory=list)
    """Entries of an accepted plan that became no intent, each with its reason (e.g. an unknown symbol)."""
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    source: str = "live"
    """``live`` (the model answered), ``cache`` (a recorded answer), ``miss`` (replay had none), ``none``."""
    tries: int = 0
    """HTTP requests made for this attempt, retries of temporary errors included."""
    intents: int = 0
    subject: str = ""
    """What the call was about when a step asks more than once a cycle: the symbol, for a veto."""
