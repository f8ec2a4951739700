"""indicator.sma: simple moving average."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from blocks.indicators.rolling import rolling_mean
from runner.block import BlockConfig, Indicator, Ref


class Sma(Indicator):
    """Simple moving average: the mean of the last `period` values.

    Reported from the period-th value on. O(1) per bar: a running sum, recomputed exactly (fsum) once
    every `period` bars to bound rounding."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to average, e.g. candles.close")
        period: int = Field(20, gt=0, le=100_000, description="Number of bars in the mean")

    example = {"of": "candles.close", "period": 20}

    def start(self, symbol: str) -> Callable[[float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        return rolling_mean(config.period)
