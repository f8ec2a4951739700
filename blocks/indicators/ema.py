"""indicator.ema: exponential moving average."""

from __future__ import annotations

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class Ema(Indicator):
    """Exponential moving average, alpha = 2/(period+1), seeded with the first value."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to average, e.g. candles.close")
        period: int = Field(20, gt=0, le=100_000, description="Number of bars; alpha = 2/(period+1)")

    example = {"of": "candles.close", "period": 20}
