"""source.candles: OHLCV candles per symbol, live from a venue or replayed from files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from runner.block import BlockConfig, Source
from runner.durations import parse_duration
from runner.errors import BlockError
from runner.symbols import foreign_symbols
from runner.types import Symbol, Timeframe

if TYPE_CHECKING:
    from blocks.sources.candle_files import CandleSeries
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext
    from runner.errors import ConfigIssue


class Candles(Source):
    """OHLCV candles for the bot's symbols at one timeframe; a cycle sees only closed candles."""

    class Config(BlockConfig):
        venue: str = Field(
            "binance",
            pattern=r"^[a-z][a-z0-9_]*$",
            description="Venue the candles come from live: a ccxt exchange id such as binanceusdm "
            "or hyperliquid (backtests and replays read --data instead)",
        )
        timeframe: Timeframe = Field("1m", description="Candle length; cycles run at its closes")
        history: int = Field(300, ge=0, le=1_000_000, description="Candles loaded before the first cycle to warm up")
        symbols: list[Symbol] | None = Field(
            None, min_length=1, description="A subset of the bot's symbols; all of them when omitted"
        )

    outputs = {
        "close": "number",
        "open": "number",
        "high": "number",
        "low": "number",
        "volume": "number",
        "candles": "candles",
    }
    example = {"venue": "binanceusdm", "timeframe": "15m", "history": 300}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        if config.symbols and ctx.header is not None:
            hint = f"add it to symbols: or use one of {', '.join(ctx.header.symbols)}"
            yield from foreign_symbols(ctx, (*step.path, "with", "symbols"), config.symbols, hint)

    def open(self, ctx: BuildContext) -> CandleFeed:
        from blocks.sources.candle_files import load_candles, resample, until

        config = self.config
        assert isinstance(config, self.Config)
        symbols = config.symbols or ctx.symbols
        missing = [sym for sym in symbols if sym not in ctx.data]
        if missing:
            raise BlockError(
                self.step_id,
                f"no candle data for {', '.join(missing)}: live market data comes with the "
                "venue adapters; pass --data FILE (or --data SYMBOL=FILE for each symbol)",
            )
        timeframe = parse_duration(config.timeframe) * 1000
        priced = [sym for sym in symbols if ctx.data[sym] != "none"]  # --data SYMBOL=none: no data, no price
        if not priced:
            raise BlockError(self.step_id, "every symbol's data is none: there is nothing to replay")
        series = {sym: resample(load_candles(ctx.data[sym]), timeframe) for sym in priced}
        if ctx.data_until is not None:
            series = {sym: until(s, ctx.data_until) for sym, s in series.items()}
        slots = [ctx.slots[(self.step_id, name)] for name in ("open", "high", "low", "close", "volume")]
        return CandleFeed(series, slots)


class CandleFeed:
    """Replays candle series: one timeline entry per distinct close time; gaps stay gaps."""

    def __init__(self, series: dict[str, CandleSeries], slots: list[int]) -> None:
        from blocks.sources.candle_files import merged_timeline, shifted

        self.series = series
        self.slots = slots
        self._symbols = list(series)
        self.columns: tuple[Sequence[float], ...] | None = None
        if len(series) == 1:
            (only,) = series.values()
            self.timeline: Sequence[int] = shifted(only.time, only.timeframe_ms)
            self._at: list[list[tuple[str, int]]] | None = None
            self.columns = (only.open, only.high, only.low, only.close, only.volume)
            self.timeframe_ms = only.timeframe_ms
        else:
            self.timeline, self._at = merged_timeline(series)

    def emit(self, i: int, lanes: dict[str, list[Any]]) -> Sequence[str]:
        o, h, lo, c, v = self.slots
        if self._at is None:
            sym = self._symbols[0]
            s = self.series[sym]
            lane = lanes[sym]
            lane[o], lane[h], lane[lo], lane[c], lane[v] = s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i]
            return self._symbols
        symbols = []
        for sym, j in self._at[i]:
            s = self.series[sym]
            lane = lanes[sym]
            lane[o], lane[h], lane[lo], lane[c], lane[v] = s.open[j], s.high[j], s.low[j], s.close[j], s.volume[j]
            symbols.append(sym)
        return symbols
