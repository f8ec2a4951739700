"""indicator.macd: moving average convergence/divergence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from pydantic import Field, model_validator

from runner.block import BlockConfig, Indicator, Ref

Output = tuple[float | None, float | None, float | None]


class Macd(Indicator):
    """Moving average convergence/divergence: the line, its signal and the histogram.

    line = EMA(fast) - EMA(slow), signal = EMA(signal) of the line, histogram = line - signal. Each EMA
    uses alpha = 2/(n+1) and is seeded with its first input, as indicator.ema does, so the line equals
    ema(fast) - ema(slow) of the same series. The line is reported from the slow-th value on; the signal
    EMA starts at that first reported line and, with the histogram, is reported from value
    slow + signal - 1 on (the 34th with 12/26/9, as TA-Lib; TA-Lib seeds each EMA with a mean instead,
    so early values differ until the seed has decayed)."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to read, e.g. candles.close")
        fast: int = Field(12, gt=0, le=100_000, description="Period of the fast EMA")
        slow: int = Field(26, gt=1, le=100_000, description="Period of the slow EMA; greater than fast")
        signal: int = Field(9, gt=0, le=100_000, description="Period of the signal EMA of the line")

        @model_validator(mode="after")
        def _fast_below_slow(self) -> Self:
            if self.fast >= self.slow:
                raise ValueError(f"fast ({self.fast}) must be less than slow ({self.slow})")
            return self

    outputs = {"line": "number", "signal": "number", "histogram": "number"}
    example = {"of": "candles.close", "fast": 12, "slow": 26, "signal": 9}

    def start(self, symbol: str) -> Callable[[float], Output]:
        config = self.config
        assert isinstance(config, self.Config)
        a_fast, a_slow, a_signal = (2.0 / (n + 1) for n in (config.fast, config.slow, config.signal))
        slow, ready = config.slow, config.slow + config.signal - 1
        fast_ema = slow_ema = signal_ema = 0.0
        seen = 0

        def update(x: float) -> Output:
            nonlocal fast_ema, slow_ema, signal_ema, seen
            seen += 1
            if seen == 1:
                fast_ema = slow_ema = x
            else:
                fast_ema += a_fast * (x - fast_ema)
                slow_ema += a_slow * (x - slow_ema)
            if seen < slow:
                return None, None, None
            line = fast_ema - slow_ema
            if seen == slow:
                signal_ema = line
            else:
                signal_ema += a_signal * (line - signal_ema)
            if seen < ready:
                return line, None, None
            return line, signal_ema, line - signal_ema

        return update
