"""planner.dca: dollar-cost averaging into one or several symbols (Permafrost's dca_buy and alpha_dca)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Self

from pydantic import Field, model_validator

from runner.block import BlockConfig, Planner, Ref
from runner.durations import format_duration, parse_duration
from runner.spec import Duration
from runner.symbols import foreign_symbols
from runner.types import Intent, Size, Symbol

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue


class Dca(Planner):
    """Buys a fixed quote amount of each symbol every interval, as a limit order slippage_bps above the last
    price; dip_multiplier times as much while the price is below a reference series (dip_below) or at least
    dip_pct below its highest high of the last dip_window."""

    class Config(BlockConfig):
        amount: float = Field(gt=0, allow_inf_nan=False, description="Quote amount per buy, e.g. 50 USDC")
        interval: Duration = Field("4h", description="Time between buys of a symbol")
        symbol: Symbol | None = Field(None, description="Symbol to buy; all the bot's symbols when neither is given")
        symbols: list[Symbol] | None = Field(
            None, min_length=1, description="Symbols to buy, each every interval, e.g. several subnets"
        )
        slippage_bps: int = Field(50, ge=0, le=1000, description="Worst price accepted, in bps from the last price")
        dip_below: Ref | None = Field(
            None, description="Buy dip_multiplier times the amount while the price is below this series, e.g. ema_slow"
        )
        dip_pct: float | None = Field(
            None,
            gt=0,
            lt=1,
            description="Or buy dip_multiplier times the amount while the price is at least this fraction below "
            "its highest high of the last dip_window, e.g. 0.1",
        )
        dip_window: Duration = Field("7d", description="How far back the highest high of dip_pct looks")
        dip_multiplier: float = Field(2.0, ge=1, le=100, description="Multiplier for buys in a dip")

        @model_validator(mode="after")
        def _one_of_each(self) -> Self:
            if self.symbol is not None and self.symbols is not None:
                raise ValueError("give symbol or symbols, not both")
            if self.dip_below is not None and self.dip_pct is not None:
                raise ValueError("give dip_below or dip_pct, not both")
            return self

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
        yield from foreign_symbols(ctx, (*step.path, "with", "symbols"), config.symbols or ())
        if ctx.every and parse_duration(config.interval) < ctx.every:
            yield ctx.issue(
                (*step.path, "with", "interval"),
                f"{config.interval} is shorter than the cycle ({format_duration(ctx.every)})",
                "a planner acts at most once per cycle",
            )

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._symbols = [config.symbol] if config.symbol else list(config.symbols or ctx.symbols)
        self._interval_ms = parse_duration(config.interval) * 1000
        _, self._high, _, self._close = ctx.price_slots()
        self._dip = ctx.slot(config.dip_below) if config.dip_below else None
        self._window_ms = parse_duration(config.dip_window) * 1000
        self._highs: dict[str, deque[tuple[int, float]]] = {s: deque() for s in self._symbols}
        """Per symbol, (cycle time, high) with highs strictly falling: the front is the window's highest."""
        self._last_buy: dict[str, int] = {}

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        intents = []
        for symbol in self._symbols:
            lane = cycle.lanes[symbol]
            price = lane[self._close]
            if price is None:
                continue
            peak = self._rolling_high(symbol, cycle.t, lane[self._high]) if config.dip_pct is not None else None
            last = self._last_buy.get(symbol)
            if last is not None and cycle.t - last < self._interval_ms:
                continue
            self._last_buy[symbol] = cycle.t
            amount, reason = config.amount, f"every {config.interval}"
            reference = lane[self._dip] if self._dip is not None else None
            if reference is not None and price < reference:
                amount *= config.dip_multiplier
                reason += f"; price {price:.6g} below {config.dip_below} {reference:.6g}: x{config.dip_multiplier:g}"
            if peak is not None and config.dip_pct is not None and price <= peak * (1 - config.dip_pct):
                amount *= config.dip_multiplier
                reason += (
                    f"; price {price:.6g} is {1 - price / peak:.1%} below its {config.dip_window} high "
                    f"{peak:.6g}: x{config.dip_multiplier:g}"
                )
            limit = price * (1 + config.slippage_bps / 10_000)
            intents.append(
                Intent(symbol, "order", "buy", Size(notional=amount), order_type="limit", price=limit, reason=reason)
            )
        return intents

    def _rolling_high(self, symbol: str, t: int, high: float | None) -> float | None:
        """The highest bar high seen at this planner's cycles in (t - dip_window, t]; O(1) amortised."""
        highs = self._highs[symbol]
        if high is not None:
            while highs and highs[-1][1] <= high:
                highs.pop()
            highs.append((t, high))
        while highs and highs[0][0] <= t - self._window_ms:
            highs.popleft()
        return highs[0][1] if highs else None
