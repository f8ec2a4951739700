"""planner.dca: dollar-cost averaging (Permafrost's dca_buy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import BlockConfig, Planner, Ref
from runner.durations import format_duration, parse_duration
from runner.spec import Duration
from runner.types import Symbol

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.errors import ConfigIssue


class Dca(Planner):
    """Buys a fixed quote amount of one symbol every interval; optionally more when price is below a reference."""

    class Config(BlockConfig):
        amount: float = Field(gt=0, allow_inf_nan=False, description="Quote amount per buy, e.g. 50 USDC")
        interval: Duration = Field("4h", description="Time between buys")
        symbol: Symbol | None = Field(None, description="Symbol to buy; the bot's first symbol when omitted")
        slippage_bps: int = Field(50, ge=0, le=1000, description="Worst price accepted, in bps from the last price")
        dip_below: Ref | None = Field(
            None, description="Buy dip_multiplier times the amount while the price is below this series, e.g. ema_slow"
        )
        dip_multiplier: float = Field(2.0, ge=1, le=100, description="Multiplier for buys below dip_below")

    example = {"amount": 50, "interval": "4h", "slippage_bps": 50}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        if config.symbol and ctx.header is not None and config.symbol not in ctx.header.symbols:
            yield ctx.issue(
                (*step.path, "with", "symbol"),
                f"'{config.symbol}' is not one of the bot's symbols",
                f"use one of {', '.join(ctx.header.symbols)}",
            )
        if ctx.every and parse_duration(config.interval) < ctx.every:
            yield ctx.issue(
                (*step.path, "with", "interval"),
                f"{config.interval} is shorter than the cycle ({format_duration(ctx.every)})",
                "a planner acts at most once per cycle",
            )
