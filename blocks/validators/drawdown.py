"""validator.drawdown: a breaker on the fall of equity from its peak."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import Breaker, BreakerConfig

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle


class Drawdown(Breaker):
    """Trips when equity falls `max_drawdown_pct` below its highest close-of-cycle value since the run began (the
    starting cash counts as a peak), then acts by `on_trip`."""

    class Config(BreakerConfig):
        max_drawdown_pct: float = Field(gt=0, lt=100, description="Fall from the peak that trips it, in percent")

    example = {"max_drawdown_pct": 20, "on_trip": "flatten"}

    def start(self, ctx: BuildContext) -> None:
        super().start(ctx)
        self._peak = ctx.cash

    def observe(self, cycle: Cycle) -> str:
        config = self.config
        assert isinstance(config, self.Config)
        equity = cycle.account().equity
        self._peak = max(self._peak, equity)
        fall = (1 - equity / self._peak) * 100 if self._peak > 0 else 0.0
        if fall >= config.max_drawdown_pct:
            return f"equity {equity:,.2f} is {fall:.2f}% below its peak {self._peak:,.2f}"
        return ""
