"""source.funding on the real Binance funding histories: each cycle sees the latest rate at or before it, never a
later one, per symbol, annualised by the file's interval; a symbol without a file has none."""

from __future__ import annotations

import csv
from bisect import bisect_right
from pathlib import Path
from typing import Any

import pytest
from conftest import compile_yaml, data_path

from runner.cycle import BuildContext, Cycle, Pipeline
from runner.errors import BlockError
from runner.loop import ReplayClock, Window, drive

BOT = """
bot: funded
version: 1.0.0
account: {cash: 10000, quote: USDT}
symbols: [BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1h}}
  - {id: funding, uses: source.funding}
  - {id: plan, uses: planner.noop}
  - {id: exec, uses: executor.paper}
"""


class Seen:
    """What the funding slots held in each lane at the end of every cycle."""

    def __init__(self, slots: tuple[int, int]) -> None:
        self.slots = slots
        self.rows: list[tuple[int, dict[str, tuple[Any, Any]]]] = []

    def record(self, cycle: Cycle) -> None:
        rate, annual = self.slots
        self.rows.append((cycle.t, {s: (lane[rate], lane[annual]) for s, lane in cycle.lanes.items()}))


def history(name: str) -> list[tuple[int, float]]:
    with data_path("funding", "binance-usdm", name).open() as f:
        return [(int(r["timestamp"]), float(r["funding_rate"])) for r in csv.DictReader(f)]


def test_each_cycle_sees_the_latest_rate_of_its_own_symbol() -> None:
    candles = data_path("candles", "binance-usdm")
    funding = data_path("funding", "binance-usdm")
    bot = compile_yaml(BOT)
    data = {f"{c}/USDT:USDT": str(candles / f"{c}USDT-1h.csv.gz") for c in ("BTC", "ETH", "SOL")}
    files = {f"{c}/USDT:USDT": str(funding / f"{c}USDT-8h.csv") for c in ("BTC", "ETH")}
    ctx = BuildContext(bot, data=data, funding=files)
    pipeline = Pipeline(bot, ctx)
    pipeline.open()
    seen = Seen((ctx.slots[("funding", "rate")], ctx.slots[("funding", "annualized")]))
    start, end = 1_748_736_000_000, 1_749_340_800_000  # 2025-06-01 .. 2025-06-08, hourly cycles
    drive(pipeline, seen, ReplayClock(0), bot.every * 1000, Window(start, end))
    assert len(seen.rows) == 7 * 24 + 1
    for coin in ("BTC", "ETH"):
        truth = history(f"{coin}USDT-8h.csv")
        times = [t for t, _ in truth]
        for t, lanes in seen.rows:
            rate, annual = lanes[f"{coin}/USDT:USDT"]
            expected = truth[bisect_right(times, t) - 1][1]
            assert rate == expected, (coin, t)
            assert annual == pytest.approx(expected * 3 * 365)  # three 8h intervals a day
    assert {lanes["SOL/USDT:USDT"] for _, lanes in seen.rows} == {(None, None)}  # no file: no rate
    changes = {lanes["BTC/USDT:USDT"][0] for _, lanes in seen.rows}
    assert len(changes) > 15  # a new rate every 8 hours


def test_without_any_funding_file_it_says_how_to_bind_one(tmp_path: Path) -> None:
    bot = compile_yaml(BOT)
    candles = data_path("candles", "binance-usdm", "BTCUSDT-1h.csv.gz")
    ctx = BuildContext(bot, data=dict.fromkeys(bot.spec.symbols, str(candles)))
    with pytest.raises(BlockError, match=r"bind a perp's funding history with --funding SYMBOL=FILE"):
        Pipeline(bot, ctx).open()
