"""indicator.zscore: distance from the rolling mean in rolling standard deviations."""

from __future__ import annotations

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class ZScore(Indicator):
    """(value - rolling mean) / rolling population std over a window; undefined when the std is 0."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to read, e.g. candles.close")
        window: int = Field(20, ge=2, le=100_000, description="Bars in the rolling window")

    outputs = {"value": "number", "mean": "number", "std": "number"}
    example = {"of": "candles.close", "window": 48}
