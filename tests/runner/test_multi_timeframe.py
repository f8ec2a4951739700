"""A step can read candles resampled to a coarser timeframe: a 1m pipeline sees the last *closed* 6h candle,
never the one still forming (AI Perp Trader's context candles, without its look-ahead risk)."""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path
from typing import Any

from conftest import compile_yaml, real_candles

from blocks.sources.candle_files import load_candles, resample
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.lookahead import check
from runner.loop import ReplayClock, Window, drive
from runner.runs import RunOptions

BOT = """
bot: two_frames
version: 1.0.0
account: {cash: 10000, quote: USDT}
symbols: [BTC/USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1m}}
  - {id: six_hours, uses: source.candles, with: {timeframe: 6h}}
  - {id: trend, uses: indicator.ema, with: {of: six_hours.close, period: 3}}
  - {id: fast, uses: indicator.ema, with: {of: candles.close, period: 30}}
  - {id: plan, uses: planner.ema_cross, with: {fast: fast, slow: trend}}
  - {id: exec, uses: executor.paper}
"""

HOUR = 3_600_000


class Seen:
    def __init__(self, slots: dict[str, int]) -> None:
        self.slots = slots
        self.rows: list[tuple[int, dict[str, Any]]] = []

    def record(self, cycle: Cycle) -> None:
        (lane,) = cycle.lanes.values()
        self.rows.append((cycle.t, {name: lane[slot] for name, slot in self.slots.items()}))


def test_each_minute_sees_the_last_closed_six_hour_candle(tmp_path: Path) -> None:
    data = str(real_candles(tmp_path, 3 * 24 * 60))
    bot = compile_yaml(BOT)
    ctx = BuildContext(bot, data={"BTC/USDT": data})
    pipeline = Pipeline(bot, ctx)
    pipeline.open()
    seen = Seen({"close6h": ctx.slot("six_hours.close"), "trend": ctx.slot("trend")})
    drive(pipeline, seen, ReplayClock(0), bot.every * 1000, Window())
    six = resample(load_candles(data), 6 * HOUR)
    closes = [t + 6 * HOUR for t in six.time]
    trend, alpha, ema = [], 2 / 4, None
    for x in six.close:
        ema = x if ema is None else ema + alpha * (x - ema)
        trend.append(ema)
    assert len(seen.rows) == 3 * 24 * 60 - 1 or len(seen.rows) == 3 * 24 * 60
    checked = 0
    for t, values in seen.rows:
        k = bisect_right(closes, t)  # six-hour candles closed by this minute
        if k == 0:
            assert values["close6h"] is None
            continue
        assert values["close6h"] == six.close[k - 1], t
        assert values["trend"] == (trend[k - 1] if k >= 3 else None), t
        checked += 1
    assert checked > 3 * 24 * 60 - 6 * 60 - 1


def test_a_two_timeframe_bot_passes_the_lookahead_check(tmp_path: Path) -> None:
    data = str(real_candles(tmp_path, 5_000))
    bot = compile_yaml(BOT)
    full, cuts = check(bot, RunOptions({"BTC/USDT": data}), cuts=3)
    assert len(full.intents) > 5
    assert cuts and all(not c.problems for c in cuts)
