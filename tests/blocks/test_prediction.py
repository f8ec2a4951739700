"""source.prediction and indicator.prediction_regime on the real Polymarket/Kalshi snapshots: each cycle sees
the latest snapshot at or before it, never a later one, and the regime follows perp-bot's rules."""

from __future__ import annotations

import csv
import gzip
from bisect import bisect_right
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import compile_yaml, data_path

from blocks.sources.prediction import Market, load_snapshots
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.errors import DataError
from runner.loop import ReplayClock, Window, drive

BOT = """
bot: macro
version: 1.0.0
account: {{cash: 10000, quote: USDT}}
symbols: [ETH/USDT]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 15m}}}}
  - id: pm
    uses: source.prediction
    with:
      markets:
        - {{name: recession, ticker: KXRECSSNBER-26, category: war_risk}}
  - id: macro
    uses: indicator.prediction_regime
    with: {{war_risk: pm.war_risk, war_risk_threshold: {high}, crisis_threshold: {crisis}}}
  - {{id: plan, uses: planner.noop}}
  - {{id: exec, uses: executor.paper}}
"""


class Lanes:
    """Records what one lane slot held at the end of every cycle."""

    def __init__(self, slots: dict[str, int]) -> None:
        self.slots = slots
        self.seen: list[tuple[int, dict[str, Any]]] = []

    def record(self, cycle: Cycle) -> None:
        (lane,) = cycle.lanes.values()
        self.seen.append((cycle.t, {name: lane[slot] for name, slot in self.slots.items()}))


def kalshi(ticker: str) -> list[tuple[int, float]]:
    with gzip.open(data_path("prediction", "kalshi-macro-daily-2026q1.csv.gz"), "rt") as f:
        rows = [r for r in csv.DictReader(f) if r["ticker"] == ticker]
    stamp = lambda r: int(datetime.fromisoformat(r["fetched_at_utc"].replace("Z", "+00:00")).timestamp() * 1000)  # noqa: E731
    return sorted((stamp(r), float(r["yes_probability"])) for r in rows)


def test_each_cycle_sees_the_latest_snapshot_and_its_regime(tmp_path: Path) -> None:
    candles = data_path("candles", "binance-usdm", "ETHUSDT-15m.csv.gz")
    snapshots = data_path("prediction", "kalshi-macro-daily-2026q1.csv.gz")
    bot = compile_yaml(BOT.format(high=0.25, crisis=0.3))
    ctx = BuildContext(bot, data={"ETH/USDT": str(candles), "pm": str(snapshots)})
    pipeline = Pipeline(bot, ctx)
    pipeline.open()
    names = {"p": ("pm", "recession"), "war": ("macro", "war_risk"), "regime": ("macro", "regime")}
    lanes = Lanes({name: ctx.slots[key] for name, key in names.items()})
    start, end = 1768262400000, 1773273600000  # 2026-01-13 .. 2026-03-12
    drive(pipeline, lanes, ReplayClock(0), bot.every * 1000, Window(start, end))
    truth = kalshi("KXRECSSNBER-26")
    times = [t for t, _ in truth]
    regimes = set()
    for t, seen in lanes.seen:
        k = bisect_right(times, t)
        expected = truth[k - 1][1] if k else None
        assert seen["p"] == expected, (t, k, truth[:2])
        if expected is None:
            continue
        assert seen["war"] == expected
        regime = "CRISIS" if expected >= 0.3 else "HIGH_RISK" if expected >= 0.25 else "NORMAL"
        assert seen["regime"] == regime, t
        regimes.add(regime)
    assert regimes == {"NORMAL", "HIGH_RISK", "CRISIS"}  # 0.22 in January, 0.27 and 0.32 in March


def test_wide_files_give_one_series_per_column() -> None:
    path = str(data_path("prediction", "fed-dec2025-nochange-polymarket-kalshi-30m.csv"))
    markets = [Market(name="poly", column="poly_mid"), Market(name="kalshi", column="kalshi_mid")]
    times, rows = load_snapshots(path, markets)
    assert times[0] == 1763272880028 and rows[0] == [0.505, 0.51]
    assert times == sorted(times) and all(0 <= p <= 1 for row in rows for p in row if p is not None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp_ms,poly_mid\n2,0.5\n1,0.4\n", ":3: timestamp 1 is not after"),
        ("timestamp_ms,poly_mid\n1,abc\n", ":2: probability 'abc' is not a number"),
        ("timestamp_ms,poly_mid\n1,1.7\n", ":2: probability 1.7 is outside 0..1"),
        ("time,poly_mid\n1,0.5\n", ":1: not a prediction snapshot file"),
        ("timestamp_ms,other\n1,0.5\n", ":1: no column poly_mid"),
    ],
)
def test_bad_snapshot_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_snapshots(str(path), [Market(name="poly", column="poly_mid")])


def test_a_market_needs_exactly_one_key_and_a_regime_an_input() -> None:
    with pytest.raises(ValueError, match="exactly one of column"):
        Market(name="x", column="a", ticker="b")
    with pytest.raises(Exception, match="give war_risk, rate_change or both"):
        compile_yaml(BOT.replace("war_risk: pm.war_risk, ", "").format(high=0.4, crisis=0.7))
