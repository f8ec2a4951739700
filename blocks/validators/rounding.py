"""validator.rounding: fit orders to the venue's tick size, lot size and minimums."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from runner.block import BlockConfig, Validator
from runner.types import Intent, Size, Verdict

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle


class Market(BlockConfig):
    """A symbol's trading rules, as the venue publishes them."""

    tick: float | None = Field(None, gt=0, description="Price increment, e.g. 0.1")
    lot: float | None = Field(None, gt=0, description="Quantity increment in base units, e.g. 0.001")
    min_quantity: float = Field(0.0, ge=0, description="Smallest order in base units")
    min_notional: float = Field(0.0, ge=0, description="Smallest order value in the quote asset, e.g. 10")


class Rounding(Validator):
    """Quantities are rounded down to the lot (never up: rounding must not grow risk), limit prices to the tick
    (buys down, sells up: never a worse price); with `on_mismatch: reject` an intent off the grid is rejected
    instead. An order below the minimum quantity or notional is rejected. Sizes given as a fraction or a
    notional are checked against the minimum notional here and fitted to the lot by the venue at fill time."""

    class Config(BlockConfig):
        markets: dict[str, Market] = Field(description="Symbol -> its rules; symbols not listed pass unchanged")
        on_mismatch: Literal["round", "reject"] = Field("round", description="Fit intents to the grid, or refuse them")

    example = {"markets": {"BTC/USDC:USDC": {"tick": 1.0, "lot": 0.00001, "min_notional": 10}}}

    def start(self, ctx: BuildContext) -> None:
        self._close = ctx.price_slots()[3]
        self._approve = Verdict(self.step_id, "approve")

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        config = self.config
        assert isinstance(config, self.Config)
        market = config.markets.get(intent.symbol)
        if market is None or intent.kind == "cancel":
            return self._approve
        if intent.price is not None and market.tick is not None:
            fitted = _to_grid(intent.price, market.tick, up=intent.side == "sell")
            if fitted != intent.price:
                if config.on_mismatch == "reject":
                    return self._reject(f"price {intent.price:g} is not a multiple of the tick {market.tick:g}")
                intent.price = fitted  # prices are the intent's own; sizes go through the verdict
        size = intent.size
        if intent.kind == "close" or size is None:
            return self._approve
        lane = cycle.lanes.get(intent.symbol)
        price = intent.price or (lane[self._close] if lane is not None else None)
        quantity = size.quantity
        resized: Size | None = None
        if quantity is not None and market.lot is not None:
            fitted = _to_grid(quantity, market.lot, up=False)
            if fitted != quantity:
                if config.on_mismatch == "reject":
                    return self._reject(f"quantity {quantity:g} is not a multiple of the lot {market.lot:g}")
                quantity = fitted
                resized = Size(quantity=fitted) if fitted > 0 else None
        if quantity is not None and quantity < market.min_quantity:
            return self._reject(f"quantity {quantity:g} is below the minimum {market.min_quantity:g}")
        if quantity is not None and quantity <= 0:
            return self._reject(f"quantity rounds to 0 on the lot {market.lot:g}")
        notional = quantity * price if quantity is not None and price else size.notional
        if notional is not None and notional < market.min_notional:
            return self._reject(f"order value {notional:.2f} is below the minimum {market.min_notional:g}")
        if resized is not None:
            return Verdict(self.step_id, "resize", f"quantity rounded down to the lot {market.lot:g}", resized)
        return self._approve

    def _reject(self, reason: str) -> Verdict:
        return Verdict(self.step_id, "reject", reason)


def _to_grid(value: float, step: float, up: bool) -> float:
    """``value`` on the grid of ``step``, rounded down (or up); exact multiples stay as they are."""
    units = value / step
    nearest = round(units)
    if math.isclose(units, nearest, rel_tol=0, abs_tol=1e-9):
        units = nearest
    else:
        units = math.ceil(units) if up else math.floor(units)
    return round(units * step, 12)
