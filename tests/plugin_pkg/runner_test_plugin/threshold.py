"""indicator.threshold: a series and whether it is above a fixed level."""

from __future__ import annotations

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class Threshold(Indicator):
    """Passes a series through and reports 1 when it is above `level`, else 0."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to compare, e.g. candles.close")
        level: float = Field(description="The level the series is compared with")

    outputs = {"value": "number", "above": "number"}
    example = {"of": "candles.close", "level": 50000.0}
