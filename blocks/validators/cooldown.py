"""validator.cooldown: no new entry on a symbol for a while after a stop-loss on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import Breaker, BreakerConfig
from runner.durations import parse_duration
from runner.spec import Duration
from runner.types import Intent, Verdict

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle


class Cooldown(Breaker):
    """After a position on a symbol is closed by a stop (an order whose reason starts with one of `stop_reasons`,
    such as the simulator's "stop-loss at ..." or perp-bot's "zscore_stop_long"), entries on that symbol are
    refused for `duration` (perp-bot: 30 minutes). Each cooldown is an event."""

    class Config(BreakerConfig):
        duration: Duration = Field("30m", description="How long entries on the symbol are refused")
        stop_reasons: list[str] = Field(
            default_factory=lambda: ["stop-loss", "zscore_stop", "liquidated"],
            description="Order reasons (prefixes) that count as a stop",
        )

    example = {"duration": "30m"}

    def start(self, ctx: BuildContext) -> None:
        super().start(ctx)
        config = self.config
        assert isinstance(config, self.Config)
        self._ms = parse_duration(config.duration) * 1000
        self._why: dict[str, str] = {}
        """Open orders' reasons by client id: a stop fills cycles after its order was sent."""
        self._until: dict[str, int] = {}

    def observe(self, cycle: Cycle) -> str:
        config = self.config
        assert isinstance(config, self.Config)
        for order in cycle.orders:
            self._why[order.client_id] = order.intent.reason or order.reason
        for fill in cycle.fills:
            reason = self._why.pop(fill.client_id, "")
            if any(reason.startswith(prefix) for prefix in config.stop_reasons):
                self._until[fill.symbol] = cycle.t + self._ms
                cycle.events.append(
                    ("breaker", f"{self.step_id}: {fill.symbol} stopped ({reason}); no entries for {config.duration}")
                )
        return ""

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        until = self._until.get(intent.symbol)
        if until is not None and cycle.t < until and intent.kind not in ("close", "cancel") and not intent.reduce_only:
            return Verdict(
                self.step_id,
                "reject",
                f"{intent.symbol} is cooling down after a stop for {(until - cycle.t) // 60_000} more minute(s)",
            )
        return Verdict(self.step_id, "approve")
