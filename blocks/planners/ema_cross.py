"""planner.ema_cross: long when the fast average crosses above the slow one, flat (or short) below."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from runner.block import BlockConfig, Planner, Ref
from runner.types import Intent, Size

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue


_NOTHING: list[Intent] = []


class EmaCross(Planner):
    """Cross up: go long with `size` at the next open; cross down: go flat, or short if allow_short."""

    class Config(BlockConfig):
        fast: Ref = Field(description="The fast series, e.g. ema_fast")
        slow: Ref = Field(description="The slow series, e.g. ema_slow")
        size: Size = Field(Size(fraction=1.0), description="Position size; all-in (fraction: 1) by default")
        allow_short: bool = Field(False, description="Go short on a cross down instead of flat (perps only)")

    example = {"fast": "ema_fast", "slow": "ema_slow", "size": {"fraction": 1.0}}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        where = (*step.path, "with")
        if config.fast == config.slow:
            yield ctx.issue((*where, "slow"), "fast and slow read the same series; they can never cross")
            return
        fast, slow = ctx.step(config.fast.split(".")[0]), ctx.step(config.slow.split(".")[0])
        periods = [getattr(s.config, "period", None) if s and s.uses == "indicator.ema" else None for s in (fast, slow)]
        series = [str(getattr(s.config, "of", "")) if s else "" for s in (fast, slow)]
        same_bars = series[0].split(".")[0] == series[1].split(".")[0]  # periods of other timeframes do not compare
        if same_bars and periods[0] is not None and periods[1] is not None and periods[0] >= periods[1]:
            yield ctx.issue(
                (*where, "fast"),
                f"the fast EMA ({periods[0]}) is not shorter than the slow one ({periods[1]})",
                "swap fast and slow",
            )

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._fast, self._slow = ctx.slot(config.fast), ctx.slot(config.slow)
        self._above: dict[str, bool] = {}
        if len(ctx.symbols) == 1:
            self._symbol = ctx.symbols[0]
            self._before: bool | None = None
            self.plan = self._plan_one  # type: ignore[method-assign]

    def _plan_one(self, cycle: Cycle) -> list[Intent]:
        """``plan`` for a single symbol, without the loop: it runs on every bar of a backtest."""
        lane = cycle.lanes[self._symbol]
        fast, slow = lane[self._fast], lane[self._slow]
        if fast is None or slow is None:
            return _NOTHING
        above = fast > slow
        before = self._before
        if before is above:
            return _NOTHING
        self._before = above
        return _NOTHING if before is None else [self._on_cross(self._symbol, above, fast, slow)]

    def wake(self, columns: Mapping[int, Sequence[Any]], first: int, end: int) -> Sequence[int] | None:
        """The first bar with both averages, then every bar where their order flips: crosses happen only there."""
        fast, slow = columns.get(self._fast), columns.get(self._slow)
        if fast is None or slow is None:
            return None
        start = first
        while start < end and (fast[start] is None or slow[start] is None):
            start += 1
        if start >= end:
            return []
        import pyarrow as pa
        import pyarrow.compute as pc

        above = pc.greater(pa.array(fast[start:end], pa.float64()), pa.array(slow[start:end], pa.float64()))
        if above.null_count:
            return None  # a value missing after the warm-up: every bar, to be safe
        flips = pc.not_equal(above.slice(1), above.slice(0, len(above) - 1))
        return [start, *(start + 1 + i for i in pc.indices_nonzero(flips).to_pylist())]

    def plan(self, cycle: Cycle) -> list[Intent]:
        intents = []
        for symbol, lane in cycle.lanes.items():
            fast, slow = lane[self._fast], lane[self._slow]
            if fast is None or slow is None:
                continue
            above = fast > slow
            before = self._above.get(symbol)
            self._above[symbol] = above
            if before is None or before == above:
                continue
            intents.append(self._on_cross(symbol, above, fast, slow))
        return intents

    def _on_cross(self, symbol: str, up: bool, fast: float, slow: float) -> Intent:
        config = self.config
        assert isinstance(config, self.Config)
        reason = f"{config.fast} {fast:.6g} crossed {'above' if up else 'below'} {config.slow} {slow:.6g}"
        if up:
            return Intent(symbol, "target", "buy", config.size, reason=reason)
        if config.allow_short:
            return Intent(symbol, "target", "sell", config.size, reason=reason)
        return Intent(symbol, "close", reason=reason)
