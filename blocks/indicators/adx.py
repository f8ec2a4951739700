"""indicator.adx: average directional index with the directional indicators."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from blocks.indicators.atr import true_range
from runner.block import BlockConfig, Indicator, Ref

Output = tuple[float | None, float | None, float | None]
NOTHING: Output = (None, None, None)


class Adx(Indicator):
    """Average directional index (0-100) with +DI and -DI: perp-bot's definition, Wilder's seeding.

    From the second bar on: up = H - H_prev, down = L_prev - L; +DM = up if up > down and up > 0, else 0;
    -DM = down if down > up and down > 0, else 0; TR = max(H - L, |H - C_prev|, |L - C_prev|). TR, +DM and
    -DM are Wilder-smoothed: seeded with the mean of their first `period` values, then
    s = s + (v - s) / period. +DI = 100 * s(+DM) / s(TR), -DI likewise (0 when s(TR) is 0), reported from
    the (period+1)-th bar on. DX = 100 * |+DI - -DI| / (+DI + -DI) (0 when both are 0); ADX is the mean of
    the first `period` DX values, then Wilder-smoothed the same way: reported from bar 2 * period on."""

    class Config(BlockConfig):
        high: Ref = Field(description="Bar highs, e.g. candles.high")
        low: Ref = Field(description="Bar lows, e.g. candles.low")
        close: Ref = Field(description="Bar closes, e.g. candles.close")
        period: int = Field(14, gt=0, le=100_000, description="Wilder smoothing period of TR, DM and DX")

    outputs = {"adx": "number", "plus_di": "number", "minus_di": "number"}
    example = {"high": "candles.high", "low": "candles.low", "close": "candles.close", "period": 14}

    def start(self, symbol: str) -> Callable[[float, float, float], Output]:
        config = self.config
        assert isinstance(config, self.Config)
        period = config.period
        seen = 0
        prev_high = prev_low = prev_close = 0.0
        tr_s = plus_s = minus_s = adx = 0.0

        def update(high: float, low: float, close: float) -> Output:
            nonlocal seen, prev_high, prev_low, prev_close, tr_s, plus_s, minus_s, adx
            seen += 1
            if seen == 1:
                prev_high, prev_low, prev_close = high, low, close
                return NOTHING
            up, down = high - prev_high, prev_low - low
            tr = true_range(high, low, prev_close)
            prev_high, prev_low, prev_close = high, low, close
            plus = up if up > down and up > 0.0 else 0.0
            minus = down if down > up and down > 0.0 else 0.0
            moves = seen - 1  # bars with a previous bar
            if moves <= period:
                # Sums first; the mean of the first `period` values seeds the smoothing.
                tr_s += tr
                plus_s += plus
                minus_s += minus
                if moves < period:
                    return NOTHING
                tr_s /= period
                plus_s /= period
                minus_s /= period
            else:
                tr_s += (tr - tr_s) / period
                plus_s += (plus - plus_s) / period
                minus_s += (minus - minus_s) / period
            if tr_s > 0.0:
                plus_di, minus_di = 100.0 * plus_s / tr_s, 100.0 * minus_s / tr_s
            else:
                plus_di = minus_di = 0.0
            both = plus_di + minus_di
            dx = 100.0 * abs(plus_di - minus_di) / both if both > 0.0 else 0.0
            # DX number `moves - period + 1`; ADX is their mean at number `period`, then Wilder-smoothed.
            count = moves - period + 1
            if count < period:
                adx += dx
                return None, plus_di, minus_di
            if count == period:
                adx = (adx + dx) / period
            else:
                adx += (dx - adx) / period
            return adx, plus_di, minus_di

        return update
