"""planner.market_maker: paired limit quotes around the mid, skewed by inventory, cancelled and replaced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import BlockConfig, Planner, Ref
from runner.types import Intent, Side, Size

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue


class MarketMaker(Planner):
    """Every `refresh_bars` bars: cancel this step's resting quotes, then quote a bid at mid*(1 - half) and an ask
    at mid*(1 + half), half = spread_bps/10^4, both limit (post-only by default) for `order_size` base units.
    Inventory skews both quotes away from the side that would grow it: the mid moves by -skew * half *
    inventory / max_inventory, and a side that would take the inventory past max_inventory is not quoted (on
    spot, no ask is quoted beyond what is held).
    Permafrost's market_maker_basic, with the cancels it never sent."""

    class Config(BlockConfig):
        mid: Ref = Field(description="The price to quote around, e.g. candles.close")
        spread_bps: float = Field(25.0, ge=1, le=1000, description="Half-spread: each quote's distance from the mid")
        order_size: float = Field(gt=0, description="Quantity of each quote, in base units")
        refresh_bars: int = Field(1, ge=1, le=100_000, description="Cancel and requote every this many bars")
        max_inventory: float | None = Field(
            None, gt=0, description="Largest position, in base units, either way; none: no cap and no skew"
        )
        skew: float = Field(
            0.5, ge=0, le=1, description="How far a full inventory shifts the quotes, as a share of the half-spread"
        )
        post_only: bool = Field(True, description="Quotes that would take liquidity are cancelled instead")

    example = {"mid": "candles.close", "spread_bps": 25, "order_size": 0.01, "refresh_bars": 1}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        if config.max_inventory is not None and config.order_size > config.max_inventory:
            yield ctx.issue(
                (*step.path, "with", "order_size"),
                f"order_size {config.order_size:g} is above max_inventory {config.max_inventory:g}",
                "no quote could ever be placed",
            )

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._mid = ctx.slot(config.mid)
        self._bars = 0

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        due = self._bars % config.refresh_bars == 0
        self._bars += 1
        if not due:
            return []
        positions = cycle.account().positions
        intents = []
        for symbol, lane in cycle.lanes.items():
            mid = lane[self._mid]
            if mid is None or not mid > 0:
                continue
            held = positions.get(symbol)
            inventory = held.quantity if held is not None else 0.0
            intents.append(Intent(symbol, "cancel", reason="replace quotes"))
            intents.extend(self._quotes(symbol, mid, inventory))
        return intents

    def _quotes(self, symbol: str, mid: float, inventory: float) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        half = config.spread_bps / 10_000
        cap = config.max_inventory
        center = mid * (1 - config.skew * half * inventory / cap) if cap else mid
        size = Size(quantity=config.order_size)
        quotes = []
        if cap is None or inventory + config.order_size <= cap + 1e-12:
            bid = center * (1 - half)
            quotes.append(
                self._quote(symbol, "buy", bid, size, f"bid {bid:.6g} around mid {mid:.6g}, inventory {inventory:g}")
            )
        floor = -cap if cap is not None else None
        if ":" not in symbol:
            floor = 0.0  # spot cannot go short: ask only what is held
        if floor is None or inventory - config.order_size >= floor - 1e-12:
            ask = center * (1 + half)
            quotes.append(
                self._quote(symbol, "sell", ask, size, f"ask {ask:.6g} around mid {mid:.6g}, inventory {inventory:g}")
            )
        return quotes

    def _quote(self, symbol: str, side: Side, price: float, size: Size, reason: str) -> Intent:
        config = self.config
        assert isinstance(config, self.Config)
        return Intent(
            symbol,
            "order",
            side,
            size,
            order_type="limit",
            price=price,
            post_only=config.post_only,
            reason=reason,
        )
