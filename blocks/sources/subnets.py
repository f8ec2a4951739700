"""source.subnets: Bittensor subnet alpha prices (in TAO) with pool, emission and health, replayed from files."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from blocks.sources.candle_files import merged_timeline
from blocks.sources.subnet_files import FIELDS
from runner.block import BlockConfig, Source
from runner.durations import parse_duration
from runner.errors import BlockError
from runner.types import Timeframe

if TYPE_CHECKING:
    from blocks.sources.subnet_files import SubnetBars
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext
    from runner.errors import ConfigIssue

SYMBOL = re.compile(r"^SN([0-9]{1,5})/TAO$")


class Subnets(Source):
    """Alpha price bars of the bot's subnets (symbols SN<netuid>/TAO), with their pool, emission and health.

    Open/high/low/close are those of the ~5-minute price snapshots within each bar; tao_pool and emission
    come from the bar's last snapshot; validators, active_neurons and health from the latest health
    snapshot before the bar closed. stability = emission * (calm * depth * validators' * active') ** (1/4),
    each factor x / (x + half) in [0, 1): calm = 1 / (1 + volatility / 0.05), with volatility the daily
    standard deviation of log returns over volatility_window bars (scaled to one day by each return's time
    span, so gaps count as slow moves); depth halves at 10,000 TAO; validators and active neurons at 10.
    Gaps in the data stay gaps. Backtests and replays read the files of a bittensor/subnets directory,
    bound to this step by its id: `runner backtest --data subnets=DIR`, `runner run --replay subnets=DIR`."""

    class Config(BlockConfig):
        timeframe: Timeframe = Field("1h", description="Bar length; cycles run at its closes (5m or coarser)")
        volatility_window: int = Field(
            30, ge=2, le=10_000, description="Returns (bars) in the volatility behind the stability rank"
        )

    outputs = {
        "close": "number",
        "open": "number",
        "high": "number",
        "low": "number",
        "tao_pool": "number",
        "emission": "number",
        "validators": "number",
        "active_neurons": "number",
        "health": "number",
        "volatility": "number",
        "stability": "number",
    }
    example = {"timeframe": "1h", "volatility_window": 30}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        if parse_duration(config.timeframe) < 300:
            yield ctx.issue(
                (*step.path, "with", "timeframe"),
                f"{config.timeframe} is finer than the 5-minute snapshots",
                "use 5m or coarser",
            )
        if ctx.header is not None:
            for i, symbol in enumerate(ctx.header.symbols):
                if not SYMBOL.match(symbol):
                    yield ctx.issue(
                        ("symbols", i),
                        f"'{symbol}' is not a subnet symbol for {step.id}",
                        "write SN<netuid>/TAO, e.g. SN8/TAO",
                    )

    def open(self, ctx: BuildContext) -> SubnetFeed:
        from blocks.sources.subnet_files import load_subnets

        config = self.config
        assert isinstance(config, self.Config)
        directory = ctx.data.get(self.step_id)
        if directory is None:
            raise BlockError(
                self.step_id,
                f"no subnet data: pass --data {self.step_id}=DIR with the bittensor/subnets directory "
                "(prices-5m.csv.gz and health.csv.gz)",
            )
        netuids = {symbol: netuid(symbol) for symbol in ctx.symbols}
        timeframe = parse_duration(config.timeframe) * 1000
        bars = load_subnets(
            directory, sorted(set(netuids.values())), timeframe, config.volatility_window, ctx.data_until
        )
        slots = [ctx.slots[(self.step_id, name)] for name in FIELDS]
        return SubnetFeed({symbol: bars[n] for symbol, n in netuids.items()}, slots)


def netuid(symbol: str) -> int:
    """The netuid of a subnet symbol: SN8/TAO -> 8."""
    match = SYMBOL.match(symbol)
    if match is None:
        raise ValueError(f"'{symbol}' is not a subnet symbol such as SN8/TAO")
    return int(match.group(1))


class SubnetFeed:
    """Replays subnet bars: one timeline entry per distinct close time; a symbol without a bar there is absent."""

    def __init__(self, series: dict[str, SubnetBars], slots: list[int]) -> None:
        self.series = series
        self.slots = slots
        timeline, self._at = merged_timeline(series)
        self.timeline: Sequence[int] = timeline

    def emit(self, i: int, lanes: dict[str, list[Any]]) -> Sequence[str]:
        symbols = []
        for sym, j in self._at[i]:
            lane = lanes[sym]
            for slot, column in zip(self.slots, self.series[sym].columns, strict=True):
                lane[slot] = column[j]
            symbols.append(sym)
        return symbols
