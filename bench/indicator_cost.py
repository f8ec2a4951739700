"""Cost of each indicator's streaming update, in nanoseconds per bar, over about a million real-ish bars.

The bars are the real BTC/USDT 1m candles of shared/data, repeated end to end until there are a million,
each copy scaled to open where the previous one closed. Every update is called once per bar from a plain
loop, as the runner calls it; `call floor` is that loop calling a function that does nothing. Blocks with
a batch form are timed on the whole columns too.

Usage: python bench/indicator_cost.py [BARS]   (default 1,000,000; RUNNER_DATA_DIR as the tests)
"""

from __future__ import annotations

import csv
import gzip
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blocks.indicators.adx import Adx
from blocks.indicators.atr import Atr
from blocks.indicators.bollinger import Bollinger
from blocks.indicators.ema import Ema
from blocks.indicators.hurst import Hurst
from blocks.indicators.macd import Macd
from blocks.indicators.momentum import Momentum
from blocks.indicators.realized_vol import RealizedVol
from blocks.indicators.regime import Regime
from blocks.indicators.rsi import Rsi
from blocks.indicators.sma import Sma
from blocks.indicators.vwap import Vwap
from blocks.indicators.zscore import ZScore
from runner.block import Indicator

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("RUNNER_DATA_DIR", ROOT.parent / "shared" / "data"))
SOURCE = DATA / "candles" / "binance-usdm" / "BTCUSDT-1m.csv.gz"


def bars(count: int) -> dict[str, list[float]]:
    """``count`` bars of high, low, close, volume: the real file repeated, each copy continuing the last."""
    with gzip.open(SOURCE, "rt") as f:
        rows = [(float(r["high"]), float(r["low"]), float(r["close"]), float(r["volume"])) for r in csv.DictReader(f)]
    columns: dict[str, list[float]] = {"high": [], "low": [], "close": [], "volume": []}
    scale = 1.0
    while len(columns["close"]) < count:
        for high, low, close, volume in rows[: count - len(columns["close"])]:
            columns["high"].append(high * scale)
            columns["low"].append(low * scale)
            columns["close"].append(close * scale)
            columns["volume"].append(volume)
        scale = columns["close"][-1] / rows[0][2]
    return columns


def cases(c: dict[str, list[float]]) -> list[tuple[str, Indicator, list[list[float]]]]:
    """(label, block, input columns) for every indicator, each with its default settings."""
    hlc = [c["high"], c["low"], c["close"]]
    close = [c["close"]]
    spread = [h - lo for h, lo in zip(c["high"], c["low"], strict=True)]  # a positive stand-in for inputs
    return [
        ("ema (existing)", Ema("x", Ema.Config(of="c.close")), close),
        ("rsi (existing)", Rsi("x", Rsi.Config(of="c.close")), close),
        ("zscore (existing)", ZScore("x", ZScore.Config(of="c.close")), close),
        ("sma 20", Sma("x", Sma.Config(of="c.close")), close),
        ("macd 12/26/9", Macd("x", Macd.Config(of="c.close")), close),
        ("bollinger 20, 2", Bollinger("x", Bollinger.Config(of="c.close")), close),
        ("atr 14", Atr("x", Atr.Config(high="c.high", low="c.low", close="c.close")), hlc),
        ("adx 14", Adx("x", Adx.Config(high="c.high", low="c.low", close="c.close")), hlc),
        ("hurst 100, lags 1..16", Hurst("x", Hurst.Config(of="c.close")), close),
        ("realized_vol 30", RealizedVol("x", RealizedVol.Config(of="c.close", timeframe="1m")), close),
        ("momentum 10", Momentum("x", Momentum.Config(of="c.close")), close),
        ("vwap 24", Vwap("x", Vwap.Config(price="c.close", volume="c.volume")), [c["close"], c["volume"]]),
        (
            "regime (window 200)",
            Regime("x", Regime.Config(adx="a", trend="e", volatility="v")),
            [[25.0 + (i % 20) for i in range(len(spread))], c["close"], [s + 1.0 for s in spread]],
        ),
    ]


def per_bar(run: Callable[[], Any], n: int) -> float:
    """Nanoseconds per bar of the fastest of three runs."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / n * 1e9


def streaming(block: Indicator, columns: list[list[float]]) -> Callable[[], None]:
    def run() -> None:
        update = block.start("BTC/USDT")
        if len(columns) == 1:
            for x in columns[0]:
                update(x)
        else:
            for args in zip(*columns, strict=True):
                update(*args)

    return run


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    if not SOURCE.exists():
        sys.exit(f"no data at {SOURCE} (set RUNNER_DATA_DIR)")
    c = bars(count)

    def floor() -> None:
        def nothing(x: float) -> None:
            return None

        for x in c["close"]:
            nothing(x)

    print(f"{count:,} bars of real BTC/USDT 1m candles (repeated), best of 3, ns per bar")
    print(f"{'indicator':<24}{'streaming':>10}{'batch':>10}")
    print(f"{'call floor':<24}{per_bar(floor, count):>10,.0f}{'':>10}")
    for label, block, columns in cases(c):
        stream = per_bar(streaming(block, columns), count)
        has_batch = block.batch(*(column[:50] for column in columns)) is not None
        batch = f"{per_bar(lambda b=block, cs=columns: b.batch(*cs), count):,.0f}" if has_batch else ""
        print(f"{label:<24}{stream:>10,.0f}{batch:>10}")


if __name__ == "__main__":
    main()
