"""validator.daily_loss: a breaker on the realised loss of one UTC day."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import Breaker, BreakerConfig

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle

DAY_MS = 86_400_000


class DailyLoss(Breaker):
    """Trips when the PnL realised since 00:00 UTC (closed trades, net of their fees) reaches -`max_loss_pct` of
    the equity the day began with; entries are refused until the next UTC day, when it resets (perp-bot's
    daily loss cap, 8% by default)."""

    class Config(BreakerConfig):
        max_loss_pct: float = Field(8.0, gt=0, lt=100, description="Realised loss in a UTC day that trips it, in %")

    example = {"max_loss_pct": 8}

    def start(self, ctx: BuildContext) -> None:
        super().start(ctx)
        self._day: int | None = None
        self._day_equity = ctx.cash
        self._realised = 0.0

    def observe(self, cycle: Cycle) -> str:
        config = self.config
        assert isinstance(config, self.Config)
        day = cycle.t // DAY_MS
        if day != self._day:
            if self.tripped:
                cycle.events.append(("breaker", f"{self.step_id} reset: a new UTC day"))
            self._day, self.tripped, self._realised = day, "", 0.0
            self._day_equity = cycle.account().equity
        self._realised += sum(f.realized_pnl or 0.0 for f in cycle.fills)
        limit = self._day_equity * config.max_loss_pct / 100
        if self._realised <= -limit:
            return f"realised {self._realised:,.2f} today, the cap is -{limit:,.2f} ({config.max_loss_pct:g}%)"
        return ""
