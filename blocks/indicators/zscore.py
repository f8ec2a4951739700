"""indicator.zscore: distance from the rolling mean in rolling standard deviations."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from pydantic import Field

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
        n = config.window
        window: deque[float] = deque()
        anchor: float | None = None
        total = squares = 0.0  # sums of (x - anchor): shifting keeps the variance exact for large prices

        def update(x: float) -> tuple[float | None, float | None, float | None]:
            nonlocal anchor, total, squares
            if anchor is None:
                anchor = x
            d = x - anchor
            window.append(d)
            total += d
            squares += d * d
            if len(window) > n:
                old = window.popleft()
                total -= old
                squares -= old * old
            if len(window) < n:
                return None, None, None
            mean = total / n
            variance = squares / n - mean * mean
            std = math.sqrt(variance) if variance > 0 else 0.0
            mean += anchor
            if std == 0.0:
                return None, mean, 0.0
            return (x - mean) / std, mean, std

        return update
