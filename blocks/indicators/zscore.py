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
        anchor = 0.0
        total = squares = 0.0  # sums of (x - anchor) and its square over the window
        since_exact = n
        run, last = 0, None

        def update(x: float) -> tuple[float | None, float | None, float | None]:
            # Sums around an anchor near the data, recomputed exactly (fsum) once per window length: O(1)
            # amortised, and the rounding of the incremental updates never outlives one window.
            nonlocal anchor, total, squares, since_exact, run, last
            run = run + 1 if x == last else 1
            last = x
            window.append(x)
            d = x - anchor
            total += d
            squares += d * d
            if len(window) > n:
                old = window.popleft() - anchor
                total -= old
                squares -= old * old
            since_exact += 1
            if since_exact >= n:
                anchor = math.fsum(window) / len(window)
                deviations = [v - anchor for v in window]
                total, squares = math.fsum(deviations), math.fsum(v * v for v in deviations)
                since_exact = 0
            if len(window) < n:
                return None, None, None
            if run >= n:
                return None, x, 0.0  # a constant window: no spread, no z-score
            mean_offset = total / n
            variance = squares / n - mean_offset * mean_offset
            mean = anchor + mean_offset
            std = math.sqrt(variance) if variance > 0 else 0.0
            if std == 0.0:
                return None, mean, 0.0
            return (x - mean) / std, mean, std

        return update
