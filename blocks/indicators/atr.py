"""indicator.atr: average true range, Wilder smoothing."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


def true_range(high: float, low: float, previous_close: float) -> float:
    """max(high - low, |high - previous close|, |low - previous close|)."""
    return max(high - low, abs(high - previous_close), abs(low - previous_close))


class Atr(Indicator):
    """Average true range in price units, Wilder smoothing (as TA-Lib).

    TR = max(H - L, |H - C_prev|, |L - C_prev|) from the second bar on (the first has no previous close);
    the first ATR is the mean of the first `period` TRs, then ATR = ATR + (TR - ATR) / period. Reported
    from the (period+1)-th bar on."""

    class Config(BlockConfig):
        high: Ref = Field(description="Bar highs, e.g. candles.high")
        low: Ref = Field(description="Bar lows, e.g. candles.low")
        close: Ref = Field(description="Bar closes, e.g. candles.close")
        period: int = Field(14, gt=0, le=100_000, description="Wilder smoothing period")

    example = {"high": "candles.high", "low": "candles.low", "close": "candles.close", "period": 14}

    def start(self, symbol: str) -> Callable[[float, float, float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        period = config.period
        previous: float | None = None
        atr = 0.0
        ranges = 0

        def update(high: float, low: float, close: float) -> float | None:
            nonlocal previous, atr, ranges
            if previous is None:
                previous = close
                return None
            tr = true_range(high, low, previous)
            previous = close
            ranges += 1
            if ranges < period:
                atr += tr
                return None
            if ranges == period:
                atr = (atr + tr) / period
            else:
                atr += (tr - atr) / period
            return atr

        return update
