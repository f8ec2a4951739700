"""planner.dca: dollar-cost averaging (Permafrost's dca_buy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import BlockConfig, Planner, Ref
from runner.durations import format_duration, parse_duration
from runner.spec import Duration
from runner.types import Intent, Size, Symbol

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
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

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._symbol = config.symbol or ctx.symbols[0]
        self._interval_ms = parse_duration(config.interval) * 1000
        self._close = ctx.price_slots()[3]
        self._dip = ctx.slot(config.dip_below) if config.dip_below else None
        self._last_buy: int | None = None

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        if self._last_buy is not None and cycle.t - self._last_buy < self._interval_ms:
            return []
        lane = cycle.lanes[self._symbol]
        price = lane[self._close]
        if price is None:
            return []
        self._last_buy = cycle.t
        amount, reason = config.amount, f"every {config.interval}"
        reference = lane[self._dip] if self._dip is not None else None
        if reference is not None and price < reference:
            amount *= config.dip_multiplier
            reason += f"; price {price:.6g} below {config.dip_below} {reference:.6g}: x{config.dip_multiplier:g}"
        limit = price * (1 + config.slippage_bps / 10_000)
        return [
            Intent(self._symbol, "order", "buy", Size(notional=amount), order_type="limit", price=limit, reason=reason)
        ]
