"""indicator.momentum: the return over the last N bars."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class Momentum(Indicator):
    """Rolling return over `period` bars, as a fraction (0.05 = +5%).

    momentum = x_t / x_(t-period) - 1. Reported from the (period+1)-th value on; None where x_(t-period) is 0."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to read, e.g. candles.close")
        period: int = Field(10, gt=0, le=100_000, description="Bars back the return is measured from")

    example = {"of": "candles.close", "period": 24}

    def start(self, symbol: str) -> Callable[[float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        period = config.period
        window: deque[float] = deque(maxlen=period + 1)

        def update(x: float) -> float | None:
            window.append(x)
            base = window[0]
            if len(window) <= period or base == 0.0:
                return None
            return x / base - 1.0

        return update

    def batch(self, *inputs: list[Any]) -> list[Any] | None:
        # Elementwise IEEE division and subtraction round the same in numpy as in Python, so this equals
        # the streaming result bit for bit.
        import numpy as np

        config = self.config
        assert isinstance(config, self.Config)
        (xs,) = inputs
        if None in xs:
            return None  # a column with gaps: stream it
        values = np.asarray(xs, dtype=np.float64)
        n = config.period
        base = values[:-n]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            result = values[n:] / base - 1.0
        out: list[Any] = [None] * min(n, len(values))
        out += result.tolist()
        for i in np.flatnonzero(base == 0.0).tolist():
            out[i + n] = None
        return out
