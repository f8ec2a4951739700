"""validator.position_timeout: close positions held too long."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import Breaker, BreakerConfig
from runner.durations import parse_duration
from runner.spec import Duration
from runner.types import Intent

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle


class PositionTimeout(Breaker):
    """Closes any position open for `max_age` or longer with a market order of its own (perp-bot: 24h, reason
    timeout_24h). It never trips the bot; each forced close is an event."""

    class Config(BreakerConfig):
        max_age: Duration = Field("24h", description="How long a position may stay open")

    example = {"max_age": "24h"}

    def start(self, ctx: BuildContext) -> None:
        super().start(ctx)
        config = self.config
        assert isinstance(config, self.Config)
        self._ms = parse_duration(config.max_age) * 1000
        self._closing: dict[str, int] = {}
        """Symbol -> opening time of the position a close was sent for (sent once per position)."""

    def observe(self, cycle: Cycle) -> str:
        return ""

    def exits(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        intents = []
        for symbol, position in sorted(cycle.account().positions.items()):
            opened = position.opened_t
            if not position.quantity or opened is None or cycle.t - opened < self._ms:
                continue
            if self._closing.get(symbol) == opened:
                continue
            self._closing[symbol] = opened
            reason = f"timeout_{config.max_age}: held since {opened}"
            cycle.events.append(("breaker", f"{self.step_id}: {symbol} {reason}"))
            intents.append(Intent(symbol, "close", reason=reason))
        return intents
