"""validator.funding_flip: a breaker for positions that start paying funding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import Breaker, BreakerConfig
from runner.durations import parse_duration
from runner.spec import Duration

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle

YEAR_S = 365 * 86_400


class FundingFlip(Breaker):
    """Trips when a position pays funding at an annualised rate of at least `max_paid_annual_pct` (funding has
    turned against it; Permafrost's funding-flip breaker), judged from each funding payment the account books:
    rate = payment / position notional at the mark, annualised by `interval`."""

    class Config(BreakerConfig):
        max_paid_annual_pct: float = Field(
            10.0, ge=0, description="Annualised funding paid that trips it, in percent (0: any payment)"
        )
        interval: Duration = Field("8h", description="The venue's funding interval, to annualise a payment")

    example = {"max_paid_annual_pct": 10, "interval": "8h", "on_trip": "flatten"}

    def start(self, ctx: BuildContext) -> None:
        super().start(ctx)
        config = self.config
        assert isinstance(config, self.Config)
        self._per_year = YEAR_S / parse_duration(config.interval)
        self._close = ctx.price_slots()[3]

    def observe(self, cycle: Cycle) -> str:
        config = self.config
        assert isinstance(config, self.Config)
        positions = cycle.account().positions
        for entry in cycle.ledger:
            if entry.kind != "funding" or entry.amount >= 0:
                continue
            position = positions.get(entry.symbol)
            lane = cycle.lanes.get(entry.symbol)
            mark = lane[self._close] if lane is not None else None
            if position is None or not position.quantity or not mark:
                continue
            annual = -entry.amount / (abs(position.quantity) * mark) * self._per_year * 100
            if annual >= config.max_paid_annual_pct:
                return f"{entry.symbol} paid funding at {annual:.1f}% a year (limit {config.max_paid_annual_pct:g}%)"
        return ""
