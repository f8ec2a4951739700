"""indicator.bollinger: Bollinger bands around a simple moving average."""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import Field

from blocks.indicators.rolling import rolling_moments
from runner.block import BlockConfig, Indicator, Ref

Output = tuple[float | None, float | None, float | None, float | None, float | None]
NOTHING: Output = (None, None, None, None, None)


class Bollinger(Indicator):
    """Bollinger bands around a simple moving average, with %B and the relative width.

    mid = SMA(period); upper, lower = mid +/- k * std, std the population standard deviation (ddof 0) of
    the same window, as perp-bot and TA-Lib; percent_b = (x - lower) / (upper - lower);
    width = (upper - lower) / mid. Reported from the period-th value on; percent_b is None when the window
    is constant (std 0), width is None when mid is 0.

    O(1) per bar: running sums, recomputed exactly (fsum) once every `period` bars to bound rounding."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to read, e.g. candles.close")
        period: int = Field(20, ge=2, le=100_000, description="Bars in the rolling window")
        k: float = Field(2.0, gt=0, le=100, description="Band half-width in standard deviations")

    outputs = {
        "mid": "number",
        "upper": "number",
        "lower": "number",
        "percent_b": "number",
        "width": "number",
    }
    example = {"of": "candles.close", "period": 20, "k": 2.0}

    def start(self, symbol: str) -> Callable[[float], Output]:
        config = self.config
        assert isinstance(config, self.Config)
        push, k = rolling_moments(config.period), config.k

        def update(x: float) -> Output:
            moments = push(x)
            if moments is None:
                return NOTHING
            mid, variance = moments
            half = k * math.sqrt(variance)
            upper, lower = mid + half, mid - half
            spread = upper - lower
            percent_b = (x - lower) / spread if spread > 0.0 else None
            return mid, upper, lower, percent_b, spread / mid if mid != 0.0 else None

        return update
