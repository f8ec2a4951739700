"""What every LLM-backed step shares: the model settings, its prompt templates (read and checked at compile
time), the lane slots its prompt context reads, its key, and what it inherits from earlier runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from runner.block import BlockConfig, Secret
from runner.errors import BlockError, ConfigIssue, format_path
from runner.llm.client import is_local
from runner.llm.context import CONTEXT_NAMES, PromptContext
from runner.llm.prompt import problems

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext
    from runner.llm.decide import Asker

__all__ = ["LlmConfig", "check_templates", "include_templates", "open_step"]

_TEMPLATES = (("system", "system_file"), ("user", "user_file"))


class LlmConfig(BlockConfig):
    """The settings of a step that asks a model."""

    model: str = Field(
        min_length=1,
        description="litellm model string, e.g. openrouter/deepseek/deepseek-chat or openai/gpt-4o; "
        "local/smollm2 for the embedded model (the local extra), local/<path>.gguf for any GGUF file",
    )
    api_base: str | None = Field(
        None, description="Base URL of an OpenAI-compatible server, e.g. http://localhost:11434/v1"
    )
    api_key: Secret | None = Field(None, description="The provider's key, as ${env:NAME} or ${keystore:NAME}")
    system: str | None = Field(None, description="System prompt template, inline (default: the step's contract)")
    system_file: str | None = Field(None, description="System prompt template file, relative to the bot file")
    user: str | None = Field(None, description="User prompt template, inline")
    user_file: str | None = Field(None, description="User prompt template file, relative to the bot file")
    output: Literal["auto", "schema", "json", "none"] = Field(
        "auto",
        description="auto: the reply's JSON schema where the provider supports it, else JSON mode; "
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
        description="Spend per UTC day after which the step stops asking; a backtest may spend it once in all",
    )
    history: int = Field(10, ge=0, le=1000, description="Invocations kept in each symbol's market.history")

    @field_validator("model")
    @classmethod
    def _known_local_model(cls, model: str) -> str:
        if is_local(model):
            from runner.llm import local

            if wrong := local.problem(model):
                raise ValueError(wrong)
        return model


def open_step(
    step_id: str, config: LlmConfig, ctx: BuildContext, limits: dict[str, Any], schema: dict[str, Any] | None
) -> tuple[PromptContext, Asker, int | None]:
    """At run start: an LLM step's prompt context, its asker (with what earlier runs of its deployment spent;
    replies must follow ``schema``, the plan's when None), and the lane slot of the price source's close."""
    from runner.llm.decide import Asker  # the run's parts: validate needs none of them

    steps, prices = _prompt_slots(ctx, step_id)
    context = PromptContext(ctx.symbols, steps, prices, ctx.cash, limits, config.history, ctx.book())
    key = _api_key(step_id, config, ctx.llm)
    asker = Asker(step_id, config, key, ctx.llm, ctx.llm_cache, schema=schema, per_run=ctx.run_kind == "backtest")
    _restore(asker, ctx)
    return context, asker, prices.get("close")


def include_templates(step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
    """Read the step's template files into its config (a file and an inline template together are an error)."""
    config = step.config
    assert isinstance(config, LlmConfig)
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


def check_templates(step: StepInfo, ctx: CompileContext, extra: Iterable[str] = ()) -> Iterator[ConfigIssue]:
    """Syntax errors and unknown names in the step's templates, at the template file's line or the bot file's."""
    config = step.config
    assert isinstance(config, LlmConfig)
    names = set(CONTEXT_NAMES) | set(extra) | {s.id for s in ctx.steps[: step.index] if s.id and _has_outputs(s)}
    base = Path(ctx.doc.file).parent
    for inline, file_field in _TEMPLATES:
        source = getattr(config, inline)
        if source is None:
            continue
        file_name = getattr(config, file_field)
        for problem in problems(source, names):
            if file_name is not None:
                where = (*step.path, "with", file_field)
                yield ConfigIssue(str(base / file_name), max(problem.line, 1), 1, format_path(where), problem.message)
            else:
                issue = ctx.issue((*step.path, "with", inline), problem.message)
                offset = problem.line if "\n" in source.rstrip("\n") and problem.line else 0
                yield ConfigIssue(issue.file, issue.line + offset, issue.col, issue.path, issue.message)


def _prompt_slots(ctx: BuildContext, step_id: str) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
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

    asker.spent.update(spent_per_day(ctx.llm_cache.store, ctx.deployment_id, asker.step_id))
    asker.recompute_until = ctx.resume_until


def _api_key(step_id: str, config: LlmConfig, mode: str) -> str | None:
    """The key, resolved at run start (never stored); a replay or a dry run asks no model and needs none."""
    if config.api_key is None or mode in ("replay", "dry"):
        return None
    from runner.secrets import SecretError, resolve

    try:
        return resolve(config.api_key)
    except SecretError as exc:
        raise BlockError(step_id, f"api_key {exc}") from None


def _raw_with(ctx: CompileContext, step: StepInfo) -> dict[str, Any]:
    settings = ctx.raw((*step.path, "with"))
    return settings if isinstance(settings, dict) else {}


def _has_outputs(step: StepInfo) -> bool:
    """Whether the step puts values on the lanes (a planner or a validator has none to show a prompt)."""
    return step.block is not None and step.config is not None and bool(step.block.output_fields(step.config))
