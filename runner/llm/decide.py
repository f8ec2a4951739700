"""One LLM decision: render the prompts, ask (or replay), parse, repair once, and turn the plan into intents.

Every outcome is recorded on the cycle as LlmCall rows; a decision without a valid plan proposes nothing. A
reply that never came after the retries is a rejection too; a fatal error (bad key, unknown model, bad
request) raises, so the cycle is recorded as failed and breakers that count failures can halt the bot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.llm.budget import DAY_MS
from runner.llm.cache import prompt_hash
from runner.llm.client import LlmError, Reply, Request, complete, complete_with_retries, response_format
from runner.llm.intents import plan_intents
from runner.llm.prompt import render
from runner.llm.record import LlmCall
from runner.plan import Plan, PlanError, parse_plan, plan_schema

if TYPE_CHECKING:
    from runner.cycle import Cycle
    from runner.llm.cache import LlmCache
    from runner.llm.context import PromptContext
    from runner.llm.step import LlmConfig
    from runner.types import Intent

__all__ = ["Asker", "decide"]

Messages = tuple[tuple[str, str], ...]


def repair_prompt(error: str) -> str:
    """What the model is told when its reply was not a valid plan."""
    return (
        f"Your reply was not a valid plan: {error}\n"
        "Reply again with only the corrected JSON object, in the same format, and nothing else."
    )


@dataclass
class Asker:
    """Gets a reply for a prompt: from the cache or the model as the run's mode says, within the budget."""

    step_id: str
    config: LlmConfig
    api_key: str | None
    mode: str
    cache: LlmCache | None = None
    sleep: Callable[[float], None] = time.sleep
    call: Callable[[Request], Reply] = complete
    schema: dict[str, Any] | None = None
    """The JSON schema replies must follow (sent where the provider supports structured output); the plan's
    by default."""
    recompute_until: int | None = None
    """A resumed run recomputes the cycles it recorded before it stopped, up to this time: their replies come
    from the cache (they were asked and paid for already), whatever the mode."""
    per_run: bool = False
    """Budget the whole run as one day: a backtest replays many days in minutes, and spends real money."""
    spent: dict[int, float] = field(default_factory=dict)
    """USD spent per UTC day (the day number of the cycle time; 0 for the whole run when ``per_run``)."""
    halted: set[int] = field(default_factory=set)
    broken: str = ""
    """A fatal error (bad key, unknown model): the run asks no more, each later decision fails with it."""
    unpriced: bool = False
    """The model answered without a price (litellm's map does not know it): said once."""
    last_error: str = ""
    _format: dict[str, Any] | None = None
    _format_known: bool = False

    def day(self, t: int) -> int:
        """The budget's bucket for cycle time ``t``."""
        return 0 if self.per_run else t // DAY_MS

    def over_budget(self, t: int) -> bool:
        budget = self.config.budget_usd_per_day
        return budget is not None and self.spent.get(self.day(t), 0.0) >= budget

    def spent_out(self, cycle: Cycle, consequence: str) -> bool:
        """Whether the budget is spent at this cycle; the first time each day, an event says so and what follows."""
        if not self.over_budget(cycle.t):
            return False
        day = self.day(cycle.t)
        if day not in self.halted:
            self.halted.add(day)
            when = "in this backtest" if self.per_run else "today"
            cycle.events.append(
                ("llm_budget", f"{self.step_id}: spent ${self.spent[day]:.4f} {when}, the daily budget; {consequence}")
            )
        return True

    def ask(self, messages: Messages, call: LlmCall, t: int) -> Reply | None:
        """The reply, with ``call`` filled in; None when there is none (``call.error`` says why)."""
        model = self.config.model
        recomputing = self.recompute_until is not None and t <= self.recompute_until
        cached_first = self.cache is not None and (self.mode != "live" or recomputing)
        reply = self.cache.get(model, call.prompt_hash) if self.cache is not None and cached_first else None
        if reply is None and self.broken:
            call.source = "none"
            call.error = f"no reply: {self.broken} (not asked again in this run)"
            raise LlmError(self.broken, temporary=False)
        if reply is not None:
            call.source = "cache"
        elif self.mode == "dry":
            call.source = "none"
            call.error = "not sent: a dry run renders the prompt only"
            return None
        elif self.mode == "replay":
            call.source = "miss"
            call.error = "no recorded reply for this prompt (--llm replay asks no model)"
            return None
        else:
            reply = self._ask_model(messages, call, t)
            if reply is None:
                return None
        call.response = reply.text
        call.tokens_in, call.tokens_out = reply.tokens_in, reply.tokens_out
        call.cost_usd, call.latency_ms = reply.cost_usd, reply.latency_ms
        return reply

    def _ask_model(self, messages: Messages, call: LlmCall, t: int) -> Reply | None:
        """The model's reply, paid for and cached; None after temporary errors outlast the retries."""
        try:
            reply, call.tries = complete_with_retries(
                self._request(messages), self.config.retries, self.config.backoff_s, self.sleep, self.call
            )
        except LlmError as exc:
            call.tries = exc.tries
            call.error = f"no reply: {exc}"
            if not exc.temporary:
                self.broken = str(exc)
                raise  # a bad key, model or request will not mend itself: the cycle fails, visibly
            return None
        call.source = "live"
        day = self.day(t)
        self.spent[day] = self.spent.get(day, 0.0) + (reply.cost_usd or 0.0)
        if self.cache is not None:
            self.cache.put(self.config.model, call.prompt_hash, reply)
        return reply

    def _request(self, messages: Messages) -> Request:
        config = self.config
        if not self._format_known:
            self._format = response_format(config.model, self.schema or plan_schema(), config.output)
            self._format_known = True
        return Request(
            config.model,
            messages,
            config.api_base,
            self.api_key,
            config.timeout_s,
            config.temperature,
            config.max_tokens,
            self._format,
        )


def decide(asker: Asker, context: PromptContext, system: str, user: str, cycle: Cycle) -> list[Intent]:
    """The intents of one decision at ``cycle``; every call and rejection is recorded on the cycle."""
    step_id, model = asker.step_id, asker.config.model
    if asker.spent_out(cycle, "planner halted"):
        return []
    try:
        values = context.build(cycle, asker.last_error)
        messages: Messages = (("system", render(system, values)), ("user", render(user, values)))
    except Exception as exc:
        call = LlmCall(step_id, model, 1, system, user, "", error=f"prompt: {type(exc).__name__}: {exc}", source="none")
        return _rejected(asker, call, cycle)
    plan, call = _attempt(asker, messages, 1, cycle)
    if plan is None and call.response and call.source != "miss":
        repair = repair_prompt(call.error.removeprefix("invalid plan: "))
        plan, call = _attempt(asker, (*messages, ("assistant", call.response), ("user", repair)), 2, cycle)
    if plan is None:
        return _rejected(asker, call, cycle)
    asker.last_error = ""
    intents, call.rejected = plan_intents(plan, context.symbols)
    call.intents = len(intents)
    context.remember(cycle.t, intents)
    for reason in call.rejected:
        cycle.events.append(("llm_rejection", f"{step_id}: {reason}"))
    return intents


def _attempt(asker: Asker, messages: Messages, attempt: int, cycle: Cycle) -> tuple[Plan | None, LlmCall]:
    call = LlmCall(asker.step_id, asker.config.model, attempt, messages[0][1], messages[-1][1], prompt_hash(messages))
    cycle.llm_calls.append(call)
    reply = asker.ask(messages, call, cycle.t)
    if reply is None:
        return None, call
    if call.source == "live" and call.cost_usd is None and not asker.unpriced:
        asker.unpriced = True
        if asker.config.budget_usd_per_day is not None:
            cycle.events.append(
                (
                    "llm_budget",
                    f"{asker.step_id}: {asker.config.model} has no price in litellm's cost map, "
                    "so budget_usd_per_day cannot be enforced",
                )
            )
    try:
        plan = parse_plan(reply.text)
    except PlanError as exc:
        call.error = f"invalid plan: {exc}"
        return None, call
    call.plan = plan.model_dump_json()
    return plan, call


def _rejected(asker: Asker, call: LlmCall, cycle: Cycle) -> list[Intent]:
    if call not in cycle.llm_calls:
        cycle.llm_calls.append(call)
    asker.last_error = call.error
    cycle.events.append(("llm_rejection", f"{asker.step_id}: decision rejected, no order: {call.error}"))
    return []
