"""indicator.ema: exponential moving average."""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate
from typing import Any

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class Ema(Indicator):
    """Exponential moving average, alpha = 2/(period+1), seeded with the first value; reported from bar `period` on."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to average, e.g. candles.close")
        period: int = Field(20, gt=0, le=100_000, description="Number of bars; alpha = 2/(period+1)")

    example = {"of": "candles.close", "period": 20}

    def batch(self, *inputs: list[Any]) -> list[Any] | None:
        (xs,) = inputs
        if not xs or any(x is None for x in (xs[0], xs[-1])):
            return None
        config = self.config
        assert isinstance(config, self.Config)
        alpha = 2.0 / (config.period + 1)
        # The same arithmetic as the streaming update, so the results are identical (the first value is
        # xs[0] either way: xs[0] + alpha * 0).
        out: list[Any] = list(accumulate(xs, lambda value, x: value + alpha * (x - value)))
        out[: config.period - 1] = [None] * min(config.period - 1, len(out))
        return out

    def start(self, symbol: str) -> Callable[[float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        alpha, period = 2.0 / (config.period + 1), config.period
        value = 0.0
        seen = 0

        def update(x: float) -> float | None:
            nonlocal value, seen
            if seen == 0:
                value = x
            else:
                value += alpha * (x - value)
            seen += 1
            return value if seen >= period else None

        return update
