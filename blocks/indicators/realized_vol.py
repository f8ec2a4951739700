"""indicator.realized_vol: annualised standard deviation of log returns."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from blocks.indicators.rolling import rolling_moments
from runner.block import BlockConfig, Indicator, Ref, Source
from runner.durations import format_duration, parse_duration
from runner.refs import ref_spec
from runner.types import Timeframe

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.errors import ConfigIssue

YEAR_SECONDS = 365 * 86_400


class RealizedVol(Indicator):
    """Realized volatility of log returns, annualised by the bar length (0.6 = 60% a year).

    The sample standard deviation (ddof 1) of the last `window` log returns ln(x_t / x_(t-1)), times
    sqrt(bars per 365-day year) = sqrt(31,536,000 s / timeframe). Reported from the (window+1)-th value
    on; exactly 0 on a constant window. `timeframe` must be the bar length of the source the series comes
    from: the contract gives an indicator no run context, so it is written in the step and checked
    against the source when the bot file is compiled. O(1) per bar: running sums, recomputed exactly
    (fsum) once every `window` bars."""

    class Config(BlockConfig):
        of: Ref = Field(description="Positive series to read, e.g. candles.close")
        timeframe: Timeframe = Field(description="Bar length of the series' source, e.g. 1h; sets the annualisation")
        window: int = Field(30, ge=2, le=100_000, description="Log returns in the rolling window")

    example = {"of": "candles.close", "timeframe": "1h", "window": 24}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        sources = dict(_source_timeframes(step, ctx, set()))
        if sources and parse_duration(config.timeframe) not in sources.values():
            source_id, seconds = next(iter(sources.items()))
            tf = format_duration(seconds)
            yield ctx.issue(
                (*step.path, "with", "timeframe"),
                f"{config.timeframe}, but '{config.of}' comes from '{source_id}', which has {tf} bars",
                f"use timeframe: {tf}, or the volatility is annualised wrong",
            )

    def start(self, symbol: str) -> Callable[[float], float | None]:
        config = self.config
        assert isinstance(config, self.Config)
        n = config.window
        push = rolling_moments(n)
        # population variance * n / (n - 1) = sample variance; times bars per year
        scale = n / (n - 1) * YEAR_SECONDS / parse_duration(config.timeframe)
        previous = 0.0

        def update(x: float) -> float | None:
            nonlocal previous
            if x <= 0.0:
                raise ValueError(f"realized_vol needs positive values; got {x}")
            if previous == 0.0:
                previous = x
                return None
            moments = push(math.log(x / previous))
            previous = x
            return None if moments is None else math.sqrt(moments[1] * scale)

        return update


def _source_timeframes(step: StepInfo, ctx: CompileContext, seen: set[str]) -> Iterator[tuple[str, int]]:
    """(id, bar seconds) of the sources a step's references lead back to, through any indicators between."""
    if step.config is None:
        return
    for name, info in type(step.config).model_fields.items():
        value = getattr(step.config, name)
        if value is None or ref_spec(info) is None:
            continue
        target = ctx.step(str(value).partition(".")[0])
        if target is None or target.id in seen or target.block is None or target.index >= step.index:
            continue
        seen.add(str(target.id))
        if not issubclass(target.block, Source):
            yield from _source_timeframes(target, ctx, seen)
        elif target.config is not None and (seconds := target.block.timeframe_seconds(target.config)):
            yield str(target.id), seconds
