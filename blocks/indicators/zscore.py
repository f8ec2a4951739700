"""indicator.zscore: distance from the rolling mean in rolling standard deviations."""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import Field

from blocks.indicators.rolling import rolling_moments
from runner.block import BlockConfig, Indicator, Ref


class ZScore(Indicator):
    """(value - rolling mean) / rolling population std over a window; undefined when the std is 0."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to read, e.g. candles.close")
        window: int = Field(20, ge=2, le=100_000, description="Bars in the rolling window")

    outputs = {"value": "number", "mean": "number", "std": "number"}
    example = {"of": "candles.close", "window": 48}

    def start(self, symbol: str) -> Callable[[float], tuple[float | None, float | None, float | None]]:
        config = self.config
        assert isinstance(config, self.Config)
        moments = rolling_moments(config.window)

        def update(x: float) -> tuple[float | None, float | None, float | None]:
            found = moments(x)
            if found is None:
                return None, None, None
            mean, variance = found
            std = math.sqrt(variance) if variance > 0 else 0.0
            if std == 0.0:
                return None, mean, 0.0  # a constant window: no spread, no z-score
            return (x - mean) / std, mean, std

        return update
