"""indicator.hurst: rolling Hurst exponent, generalized-Hurst (q = 2) estimator."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from pydantic import Field, field_validator

from blocks.indicators.rolling import rolling_mean
from runner.block import BlockConfig, Indicator, Ref


class Hurst(Indicator):
    """Rolling Hurst exponent: about 0.5 for a random walk, below for mean reversion, above for trends.

    Method: generalized Hurst exponent with q = 2 (Di Matteo): for each lag
    tau = 1, 2, 4, ..., max_lag, K(tau) = mean over the last `window` bars of (ln x_t - ln x_(t-tau))^2
    (raw second moment: drift counts as persistence); H = slope of ln K(tau) on ln tau (least squares) / 2.
    Reported from the (window + max_lag)-th value on; None when some K(tau) is 0 (no movement).

    Why not perp-bot's rescaled range (R/S over non-overlapping chunks of 10..100 bars): it recomputes the
    whole window per value (~90 lags x window), so a per-bar R/S costs milliseconds, and recomputing it only
    every N bars makes the value stale and depend on where the run started. K(tau) are rolling means, so
    this estimator costs O(number of lags) per bar, always current; its values are not R/S values (R/S is
    biased upwards on short windows), so thresholds tuned on perp-bot's screen need re-tuning."""

    class Config(BlockConfig):
        of: Ref = Field(description="Positive series to read, e.g. candles.close")
        window: int = Field(100, ge=8, le=100_000, description="Bars each lag's mean squared change averages over")
        max_lag: int = Field(
            16, ge=2, le=1024, description="Largest lag, a power of two; lags are 1, 2, 4, ... max_lag"
        )

        @field_validator("max_lag")
        @classmethod
        def _power_of_two(cls, value: int) -> int:
            if value & (value - 1):
                raise ValueError(f"must be a power of two such as 8, 16 or 32 (got {value})")
            return value

    example = {"of": "candles.close", "window": 100, "max_lag": 16}

    def start(self, symbol: str) -> Callable[[float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        lags = [1 << i for i in range(config.max_lag.bit_length())]
        xs = [math.log(t) for t in lags]
        centre = sum(xs) / len(xs)
        spread = sum((x - centre) ** 2 for x in xs)
        # H = slope / 2 = sum(w_i * ln K_i) with these weights (they sum to 0, so K's units cancel)
        weights = [(x - centre) / spread / 2.0 for x in xs]
        pushes = [(-1 - lag, rolling_mean(config.window)) for lag in lags]
        full = config.max_lag + 1
        logs: deque[float] = deque(maxlen=full)

        def update(x: float) -> float | None:
            if x <= 0.0:
                raise ValueError(f"hurst needs positive values; got {x}")
            logs.append(math.log(x))
            if len(logs) < full:
                return None
            now = logs[-1]
            moments = [push((now - logs[back]) ** 2) for back, push in pushes]  # every lag, every bar
            h = 0.0
            for k, weight in zip(moments, weights, strict=True):
                if k is None or k <= 0.0:
                    return None  # not yet `window` changes, or no movement: no exponent
                h += weight * math.log(k)
            return h

        return update
