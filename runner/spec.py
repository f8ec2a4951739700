"""The bot file's own shape: BotSpec and StepSpec (block configs are checked per block)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from runner.durations import format_duration, parse_duration

BOT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
USES_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
SYMBOL_PATTERN = r"^[A-Za-z0-9]+/[A-Za-z0-9]+(:[A-Za-z0-9]+)?$"


# The regular expression published at semver.org.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def _semver(value: str) -> str:
    if not _SEMVER.match(value):
        raise ValueError(f"'{value}' is not a semantic version; write MAJOR.MINOR.PATCH, e.g. 1.0.0")
    return value


def _duration(value: str) -> str:
    return format_duration(parse_duration(value))


Duration = Annotated[
    str,
    AfterValidator(_duration),
    Field(json_schema_extra={"pattern": r"^[1-9][0-9]*[smhdw]$"}),
]
"""A duration such as ``15m``; stored in its canonical spelling (``60m`` becomes ``1h``)."""

SemVer = Annotated[str, AfterValidator(_semver), Field(json_schema_extra={"pattern": r"^\d+\.\d+\.\d+"})]
Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class AccountSpec(_Strict):
    """The paper and backtest starting balance."""

    cash: float = Field(10_000.0, gt=0, allow_inf_nan=False, description="Starting cash in the quote asset")
    quote: str = Field("USDC", min_length=1, description="Quote asset that cash, equity and PnL are counted in")


class StepSpec(_Strict):
    """One use of a block in the pipeline."""

    id: Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)] = Field(
        description="Unique lower snake_case name of the step; later steps refer to it"
    )
    uses: Annotated[str, StringConstraints(pattern=USES_PATTERN)] = Field(
        description="The block type, e.g. indicator.rsi (see `runner blocks`)"
    )
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="The block's configuration (see `runner blocks NAME`)"
    )
    every: Duration | None = Field(
        None, description="Run this step only every so often, e.g. 1h for an LLM planner in a 1m pipeline"
    )
    on_error: Literal["skip_cycle", "halt"] = Field(
        "skip_cycle",
        description="Planner and validator steps: when this step raises, times out or outlasts its retries: "
        "skip_cycle fails the cycle (recorded with the error, nothing sent) and goes on; halt also stops the "
        "bot's planners for good",
    )
    timeout: Duration | None = Field(
        None,
        description="Planner and validator steps: the longest one try of the step's per-cycle call (plan, a "
        "verdict, a breaker's observe) may take, e.g. 30s. A try that outlasts it is abandoned (Python cannot "
        "stop it; whatever it returns later is discarded), fails the cycle with an event, and the step is not "
        "called again until that try has returned. Paper and live runs only: a backtest must not depend on the "
        "machine's speed",
    )
    retries: int = Field(
        0,
        ge=0,
        le=10,
        description="Planner and validator steps: how many times a try that failed with a temporary error "
        "(TemporaryError, ConnectionError, TimeoutError raised by the block) is made again in the same cycle; "
        "any other error fails the cycle at once. Each retry is an event",
    )
    backoff: Duration = Field(
        "1s", description="The wait before the first retry; it doubles before each next one (1s, 2s, 4s, ...)"
    )


class BotSpec(_Strict):
    """A bot file."""

    bot: Annotated[str, StringConstraints(pattern=BOT_NAME_PATTERN)] = Field(
        description="The bot's name: lower case letters, digits, '-' and '_'"
    )
    version: SemVer = Field(description="Semantic version; immutable once deployed, so bump it for every change")
    description: str = Field("", description="What the bot does, in a sentence or two")
    mode: Literal["paper", "live", "dry-run"] = Field(
        "paper", description="paper simulates fills; live sends real orders (also needs --live); dry-run validates only"
    )
    every: Duration | None = Field(
        None, description="Cycle cadence aligned to candle closes, e.g. 15m; defaults to the finest source timeframe"
    )
    account: AccountSpec = Field(default_factory=AccountSpec, description="Paper and backtest starting balance")
    symbols: list[Symbol] = Field(
        min_length=1, description="Markets as ccxt unified symbols, e.g. BTC/USDC:USDC (perp) or ETH/USDC (spot)"
    )
    pipeline: list[StepSpec] = Field(min_length=1, description="The steps, in the order each cycle runs them")


class BotHeader(BotSpec):
    """BotSpec with the pipeline left raw, so that each step is checked on its own."""

    pipeline: list[Any] = Field(min_length=1)


class RiskSpec(_Strict):
    """A risk file: house rules that every bot of a process runs after its own validators."""

    description: str = Field("", description="What these rules are for, in a sentence or two")
    risk: list[StepSpec] = Field(
        min_length=1,
        description="validator.* steps (limits, breakers, ...) in the pipeline's step syntax; every bot runs them "
        "after its own validators and before its executor",
    )


class RiskHeader(RiskSpec):
    """RiskSpec with the steps left raw, so that each step is checked on its own."""

    risk: list[Any] = Field(min_length=1)
