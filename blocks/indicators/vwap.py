"""indicator.vwap: rolling volume-weighted average price."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from blocks.indicators.rolling import rolling_mean
from runner.block import BlockConfig, Indicator, Ref


class Vwap(Indicator):
    """Rolling volume-weighted average price over the last `period` bars.

    vwap = sum(price * volume) / sum(volume) over the window. Reported from the
    period-th bar on; None while the window has no volume. Use a typical price series for the classic
    (H + L + C) / 3 form, or the close.

    O(1) per bar: running sums, recomputed exactly (fsum) once every `period` bars to bound rounding."""

    class Config(BlockConfig):
        price: Ref = Field(description="Price of each bar, e.g. candles.close")
        volume: Ref = Field(description="Volume of each bar, e.g. candles.volume")
        period: int = Field(24, gt=0, le=100_000, description="Bars in the rolling window")

    example = {"price": "candles.close", "volume": "candles.volume", "period": 24}

    def start(self, symbol: str) -> Callable[[float, float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        # A window without volume averages exactly 0 (rolling_mean is exact on constant windows): no price.
        notional, volume = rolling_mean(config.period), rolling_mean(config.period)

        def update(price: float, size: float) -> float | None:
            turnover, traded = notional(price * size), volume(size)
            if turnover is None or traded is None or traded <= 0.0:
                return None
            return turnover / traded

        return update
