"""planner.llm: a language model plans trades from a Jinja2 prompt; its reply must be a valid plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, model_validator

from runner.block import BlockConfig, Planner, Secret
from runner.errors import BlockError, ConfigIssue, format_path
from runner.llm.context import CONTEXT_NAMES, PromptContext
from runner.llm.prompt import problems

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.llm.decide import Asker
    from runner.types import Intent

DEFAULT_SYSTEM = """\
You are a careful trader. Being flat is a valid position. Reply with one JSON object and nothing else:
{"positions": [{"symbol": "BTC", "signal": "buy|sell|hold|close", "quantity": 0.01, "leverage": 2,
"exit_plan": {"stop_loss": 0, "take_profit": 0, "invalidation": "..."}, "justification": "...",
"confidence": 0.5}], "notes": "..."}
buy and sell set the whole position (long or short) to quantity, in base units; close goes flat; hold
changes nothing. Every buy or sell needs an exit plan. Use only the symbols you are given.
"""

_TEMPLATES = (("system", "system_file"), ("user", "user_file"))


class Llm(Planner):
    """Asks a model (any litellm model string) for a plan: a signal per symbol (buy, sell, hold, close) with
    quantity, leverage, exit plan, justification and confidence. The prompts are Jinja2 templates (sandboxed,
    undefined names are errors) that see every earlier step's output per symbol, the market, the account with
    its positions, limits and performance. A reply that is not a valid plan gets one repair request with the
    error; if that fails too the cycle's decision is a recorded rejection and no order. Every call is
    recorded with its prompt, reply, tokens, cost and latency, and replies are cached for replays."""

    class Config(BlockConfig):
        model: str = Field(
            min_length=1, description="litellm model string, e.g. openrouter/deepseek/deepseek-chat or openai/gpt-4o"
        )
        api_base: str | None = Field(
            None, description="Base URL of an OpenAI-compatible server, e.g. http://localhost:11434/v1"
        )
        api_key: Secret | None = Field(None, description="The provider's key, as ${env:NAME} or ${keystore:NAME}")
        system: str | None = Field(None, description="System prompt template, inline (default: a plan contract)")
        system_file: str | None = Field(None, description="System prompt template file, relative to the bot file")
        user: str | None = Field(None, description="User prompt template, inline")
        user_file: str | None = Field(None, description="User prompt template file, relative to the bot file")
        output: Literal["auto", "schema", "json", "none"] = Field(
            "auto",
            description="auto: the plan's JSON schema where the provider supports it, else JSON mode; "
            "schema, json or none to force one",
        )
        temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature")
        max_tokens: int = Field(2000, ge=16, le=200_000, description="Longest reply, in tokens")
        timeout_s: float = Field(60.0, gt=0, le=600, description="Seconds to wait for one reply")
        retries: int = Field(2, ge=0, le=10, description="Retries of temporary errors (rate limit, timeout, 5xx)")
        backoff_s: float = Field(1.0, ge=0, le=60, description="Wait before the first retry; doubles each time")
        budget_usd_per_day: float | None = Field(
            None,
            gt=0,
            allow_inf_nan=False,
            description="Spend per UTC day after which the planner stops asking; a backtest may spend it once in all",
        )
        history: int = Field(10, ge=0, le=1000, description="Invocations kept in each symbol's market.history")
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
        config = step.config
        assert isinstance(config, cls.Config)
        raw = _raw_with(ctx, step)
        base = Path(ctx.doc.file).parent
        update: dict[str, str] = {}
        for inline, file_field in _TEMPLATES:
            name = getattr(config, file_field)
            if name is None:
                continue
            if inline in raw:
                yield ctx.issue((*step.path, "with", file_field), f"give {inline} or {file_field}, not both")
                continue
            try:
                update[inline] = (base / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                yield ctx.issue((*step.path, "with", file_field), f"cannot read prompt template {name}: {reason}")
        if update:
            step.config = config.model_copy(update=update)

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        names = set(CONTEXT_NAMES) | {s.id for s in ctx.steps[: step.index] if s.id}
        base = Path(ctx.doc.file).parent
        for inline, file_field in _TEMPLATES:
            source = getattr(config, inline)
            if source is None:
                continue
            file_name = getattr(config, file_field)
            for problem in problems(source, names):
                if file_name is not None:
                    where = (*step.path, "with", file_field)
                    yield ConfigIssue(
                        str(base / file_name), max(problem.line, 1), 1, format_path(where), problem.message
                    )
                else:
                    where = (*step.path, "with", inline)
                    issue = ctx.issue(where, problem.message)
                    offset = problem.line if "\n" in source.rstrip("\n") and problem.line else 0
                    yield ConfigIssue(issue.file, issue.line + offset, issue.col, issue.path, issue.message)

    def start(self, ctx: BuildContext) -> None:
        from runner.llm.decide import Asker  # the run's parts: validate needs none of them

        config = self.config
        assert isinstance(config, self.Config)
        steps, prices = _slots(ctx, self.step_id)
        limits: dict[str, Any] = {"max_leverage": config.max_leverage, "symbols": ctx.symbols}
        self._context = PromptContext(ctx.symbols, steps, prices, ctx.cash, limits, config.history)
        self._close = prices.get("close")
        key = _api_key(self.step_id, config, ctx.llm)
        self._asker: Asker = Asker(
            self.step_id, config, key, ctx.llm, ctx.llm_cache, per_run=ctx.run_kind == "backtest"
        )
        _restore(self._asker, ctx)
        self._system = config.system if config.system is not None else DEFAULT_SYSTEM
        self._user = config.user or ""

    def plan(self, cycle: Cycle) -> list[Intent]:
        if self._close is not None and all(lane[self._close] is None for lane in cycle.lanes.values()):
            return []  # no price yet: nothing to ask about
        from runner.llm.decide import decide

        return decide(self._asker, self._context, self._system, self._user, cycle)


def _slots(ctx: BuildContext, step_id: str) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Lane slots of every earlier step's outputs (step -> output -> slot) and of the price source's OHLCV."""
    me = next(s for s in ctx.bot.steps if s.id == step_id)
    steps: dict[str, dict[str, int]] = {}
    for earlier in ctx.bot.steps[: me.index]:
        if earlier.block is None or earlier.config is None or earlier.id is None:
            continue
        outputs = earlier.block.output_fields(earlier.config)
        if outputs:
            steps[earlier.id] = {name: ctx.slot(f"{earlier.id}.{name}") for name in outputs}
    prices: dict[str, int] = {}
    if ctx.price_source is not None:
        for name in ("open", "high", "low", "close", "volume"):
            if (ctx.price_source, name) in ctx.slots:
                prices[name] = ctx.slot(f"{ctx.price_source}.{name}")
    return steps, prices


def _restore(asker: Asker, ctx: BuildContext) -> None:
    """What a paper or live run inherits from its deployment's earlier runs: today's spend, and when it resumes
    a stopped run, the cycles whose replies were already paid for."""
    if ctx.llm_cache is None or ctx.run_kind == "backtest":
        return
    from runner.llm.budget import spent_per_day
    from runner.runs import RunOptions, resumable_run

    store = ctx.llm_cache.store
    asker.spent.update(spent_per_day(store, ctx.deployment_id, asker.step_id))
    previous = resumable_run(store, ctx.bot, ctx.run_kind, RunOptions(ctx.data))
    asker.recompute_until = previous["last_t"] if previous else None


def _raw_with(ctx: CompileContext, step: StepInfo) -> dict[str, Any]:
    pipeline = ctx.doc.data.get("pipeline") if isinstance(ctx.doc.data, dict) else None
    raw = pipeline[step.index] if isinstance(pipeline, list) and step.index < len(pipeline) else None
    settings = raw.get("with") if isinstance(raw, dict) else None
    return settings if isinstance(settings, dict) else {}


def _api_key(step_id: str, config: Llm.Config, mode: str) -> str | None:
    """The key, resolved at run start (never stored); a replay or a dry run asks no model and needs none."""
    if config.api_key is None or mode in ("replay", "dry"):
        return None
    from runner.secrets import SecretError, resolve

    try:
        return resolve(config.api_key)
    except SecretError as exc:
        raise BlockError(step_id, f"api_key {exc}") from None
