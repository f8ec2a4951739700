"""source.candles: OHLCV candles per symbol, live from a venue or replayed from files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import BlockConfig, Source
from runner.types import Symbol, Timeframe

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
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
            for i, symbol in enumerate(config.symbols):
                if symbol not in ctx.header.symbols:
                    yield ctx.issue(
                        (*step.path, "with", "symbols", i),
                        f"'{symbol}' is not one of the bot's symbols",
                        f"add it to symbols: or use one of {', '.join(ctx.header.symbols)}",
                    )
