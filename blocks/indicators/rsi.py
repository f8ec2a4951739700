"""indicator.rsi: relative strength index with Wilder smoothing."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class Rsi(Indicator):
    """Relative strength index (0-100), Wilder smoothing; 100 when there are no losses, 0 with no gains."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to read, e.g. candles.close")
        period: int = Field(14, gt=0, le=10_000, description="Wilder smoothing period")

    example = {"of": "candles.close", "period": 14}

    def start(self, symbol: str) -> Callable[[float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        alpha, period = 1.0 / config.period, config.period
        previous: float | None = None
        gain = loss = 0.0
        changes = 0

        def update(x: float) -> float | None:
            # perp-bot's definition: ewm(alpha=1/n, adjust=False, min_periods=n) of gains and losses.
            nonlocal previous, gain, loss, changes
            if previous is None:
                previous = x
                return None
            delta = x - previous
            previous = x
            up, down = (delta, 0.0) if delta > 0 else (0.0, -delta)
            if changes == 0:
                gain, loss = up, down
            else:
                gain += alpha * (up - gain)
                loss += alpha * (down - loss)
            changes += 1
            if changes < period:
                return None
            if loss == 0.0:
                return 100.0
            return 100.0 - 100.0 / (1.0 + gain / loss)

        return update
