"""validator.losing_weeks: halt after several losing weeks in a row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import Breaker, BreakerConfig, TripAction

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle

WEEK_MS = 7 * 86_400_000


class LosingWeeks(Breaker):
    """Trips when each of the last `weeks` rolling 7-day windows closed trades at a net loss (realised PnL after
    fees); a window without closed trades counts as safe (perp-bot's three-losing-weeks halt). Checked every
    cycle, not only at start-up as perp-bot did. A run started with --force records the trip and goes on."""

    class Config(BreakerConfig):
        weeks: int = Field(3, ge=1, le=52, description="Consecutive losing 7-day windows that trip it")
        on_trip: TripAction = Field("halt", description="What a trip does (default: halt the planners)")

    example = {"weeks": 3, "on_trip": "halt"}

    def start(self, ctx: BuildContext) -> None:
        super().start(ctx)
        self._closed: list[tuple[int, float]] = []
        self._force = ctx.force
        self._overridden = False

    def observe(self, cycle: Cycle) -> str:
        config = self.config
        assert isinstance(config, self.Config)
        for fill in cycle.fills:
            if fill.realized_pnl is not None:
                self._closed.append((cycle.t, fill.realized_pnl))
        if not self._closed:
            return ""
        horizon = cycle.t - config.weeks * WEEK_MS
        self._closed = [(t, pnl) for t, pnl in self._closed if t > horizon]
        weeks = [0.0] * config.weeks
        traded = [False] * config.weeks
        for t, pnl in self._closed:
            k = min((cycle.t - t) // WEEK_MS, config.weeks - 1)
            weeks[k] += pnl
            traded[k] = True
        if all(traded) and all(net < 0 for net in weeks):
            shown = ", ".join(f"{net:,.2f}" for net in reversed(weeks))
            reason = f"{config.weeks} losing weeks in a row (net {shown})"
            if not self._force:
                return reason
            if not self._overridden:
                self._overridden = True
                cycle.events.append(("breaker", f"{self.step_id}: {reason}; overridden by --force"))
        return ""
