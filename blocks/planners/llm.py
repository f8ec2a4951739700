"""planner.llm: a language model plans trades from a Jinja2 prompt; its reply must be a valid plan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from pydantic import Field, model_validator

from runner.block import Planner
from runner.llm.step import LlmConfig, check_templates, include_templates, open_step

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue
    from runner.types import Intent

DEFAULT_SYSTEM = """\
You are a careful trader. Being flat is a valid position. Reply with one JSON object and nothing else:
{"positions": [{"symbol": "BTC", "signal": "buy|sell|hold|close", "quantity": 0.01, "leverage": 2,
"exit_plan": {"stop_loss": 0, "take_profit": 0, "invalidation": "..."}, "justification": "...",
"confidence": 0.5}], "notes": "..."}
buy and sell set the whole position (long or short) to quantity, in base units; close goes flat; hold
changes nothing. Every buy or sell needs an exit plan. Use only the symbols you are given.
"""


class Llm(Planner):
    """Asks a model (any litellm model string) for a plan: a signal per symbol (buy, sell, hold, close) with
    quantity, leverage, exit plan, justification and confidence. The prompts are Jinja2 templates (sandboxed,
    undefined names are errors) that see every earlier step's output per symbol, the market, the account with
    its positions, limits and performance. A reply that is not a valid plan gets one repair request with the
    error; if that fails too the cycle's decision is a recorded rejection and no order. Every call is
    recorded with its prompt, reply, tokens, cost and latency, and replies are cached for replays."""

    class Config(LlmConfig):
        max_leverage: float | None = Field(None, ge=1, le=200, description="Shown to the model as limits.max_leverage")

        @model_validator(mode="after")
        def _has_prompt(self) -> Self:
            if self.user is None and self.user_file is None:
                raise ValueError("give the prompt: user (a template) or user_file (a template file)")
            return self

    example = {
        "model": "openrouter/deepseek/deepseek-chat",
        "api_key": "${env:OPENROUTER_API_KEY}",
        "user": "BTC at {{ market['BTC/USDT'].price | num }}, RSI {{ rsi['BTC/USDT'] | num }}. Your plan?",
        "budget_usd_per_day": 5,
    }

    @classmethod
    def include(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        yield from include_templates(step, ctx)

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        yield from check_templates(step, ctx)

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        limits: dict[str, Any] = {"max_leverage": config.max_leverage, "symbols": ctx.symbols}
        schema = _schema(config.model, ctx.symbols)
        self._context, self._asker, self._close = open_step(self.step_id, config, ctx, limits, schema)
        self._system = config.system if config.system is not None else DEFAULT_SYSTEM
        self._user = config.user or ""

    def plan(self, cycle: Cycle) -> list[Intent]:
        if self._close is not None and all(lane[self._close] is None for lane in cycle.lanes.values()):
            return []  # no price yet: nothing to ask about
        from runner.llm.decide import decide

        return decide(self._asker, self._context, self._system, self._user, cycle)


def _schema(model: str, symbols: list[str]) -> dict[str, Any] | None:
    """The reply's schema: the plan's (None), or for a local model the keyed plan a grammar enforces whole."""
    from runner.llm.client import is_local

    if not is_local(model):
        return None
    from runner.llm.intents import plan_names
    from runner.plan import keyed_plan_schema

    return keyed_plan_schema(plan_names(symbols))
