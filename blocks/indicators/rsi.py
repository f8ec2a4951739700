"""indicator.rsi: relative strength index with Wilder smoothing."""

from __future__ import annotations

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class Rsi(Indicator):
    """Relative strength index (0-100), Wilder smoothing; 100 when there are no losses, 0 with no gains."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to read, e.g. candles.close")
        period: int = Field(14, gt=0, le=10_000, description="Wilder smoothing period")

    example = {"of": "candles.close", "period": 14}
