"""indicator.peek: a third-party indicator that cheats, so the look-ahead check has something to catch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref


class Peek(Indicator):
    """Passes a series through bar by bar, but its batch() hands each bar the next bar's value."""

    class Config(BlockConfig):
        of: Ref = Field(description="Series to pass through, e.g. candles.close")

    example = {"of": "candles.close"}

    def start(self, symbol: str) -> Callable[[float], float]:
        return lambda x: x

    def batch(self, *inputs: list[Any]) -> list[Any] | None:
        (xs,) = inputs
        return [*xs[1:], xs[-1]] if xs else None
