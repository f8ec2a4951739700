"""planner.mean_reversion: perp-bot's entry and exit rules, table by table, and on real candles."""

from __future__ import annotations

import csv
import gzip
import json
import re
from bisect import bisect_right
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, compile_yaml, data_path, issues_of

from runner.block import Account
from runner.compile import compile_file
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.runs import RunOptions, backtest
from runner.store import Store
from runner.types import Position

PERP = "ETH/USDC:USDC"

BOT = """
bot: mr
version: 1.0.0
account: {{cash: 1000, quote: USDC}}
symbols: [{symbol}]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 15m}}}}
  - {{id: z, uses: indicator.zscore, with: {{of: candles.close, window: 20}}}}
  - {{id: rsi, uses: indicator.rsi, with: {{of: candles.close}}}}
  - {{id: adx, uses: indicator.rsi, with: {{of: candles.high}}}}
  - {{id: upper, uses: indicator.ema, with: {{of: candles.high, period: 5}}}}
  - {{id: lower, uses: indicator.ema, with: {{of: candles.low, period: 5}}}}
  - id: plan
    uses: planner.mean_reversion
    with: {{z: z, close: candles.close, upper: upper, lower: lower, rsi: rsi, adx: adx, stop_loss_pct: 0.02{extra}}}
  - {{id: exec, uses: executor.paper}}
"""


def planner(extra: str = "", symbol: str = PERP) -> tuple[Any, dict[str, int]]:
    bot = compile_yaml(BOT.format(symbol=symbol, extra=extra))
    pipeline = Pipeline(bot, BuildContext(bot))
    ctx = pipeline.ctx
    ((_, block),) = pipeline.planners
    block.start(ctx)
    names = {"z": "z.value", "rsi": "rsi.value", "adx": "adx.value", "upper": "upper.value", "lower": "lower.value"}
    slots = {name: ctx.slot(ref) for name, ref in names.items()}
    slots["close"] = ctx.slot("candles.close")
    return block, slots


def decide(values: dict[str, float | None], held: float = 0.0, extra: str = "") -> list[Any]:
    block, slots = planner(extra)
    lane: list[Any] = [None] * (max(slots.values()) + 1)
    base = {"z": 0.0, "rsi": 50.0, "adx": 10.0, "upper": 110.0, "lower": 90.0, "close": 100.0}
    for name, value in {**base, **values}.items():
        lane[slots[name]] = value
    positions = {PERP: Position(PERP, held, 100.0)} if held else {}
    cycle = Cycle(0, {PERP: lane}, account=lambda: Account(1000.0, 1000.0, positions))
    return block.plan(cycle)


ENTRIES = [
    # (values, expected (kind, side) or None)
    ({"z": 2.5, "rsi": 75, "close": 111}, ("target", "sell")),
    ({"z": -2.5, "rsi": 25, "close": 89}, ("target", "buy")),
    ({"z": 2.5, "rsi": 65, "close": 111}, None),  # RSI not overbought
    ({"z": 2.5, "rsi": 75, "close": 109}, None),  # inside the upper band
    ({"z": 2.5, "rsi": 75, "close": 111, "adx": 30}, None),  # trending: no entries
    ({"z": 2.5, "rsi": 75, "close": 111, "adx": None}, None),  # ADX still warming up
    ({"z": 1.9, "rsi": 75, "close": 111}, None),  # not stretched enough
    ({"z": -2.5, "rsi": 35, "close": 89}, None),
]


@pytest.mark.parametrize(("values", "expected"), ENTRIES)
def test_entries_need_every_filter(values: dict[str, float], expected: tuple[str, str] | None) -> None:
    intents = decide(values)
    if expected is None:
        assert intents == []
        return
    (intent,) = intents
    assert (intent.kind, intent.side, intent.leverage) == (*expected, 3.0)
    stop = values["close"] * (1.02 if expected[1] == "sell" else 0.98)
    assert intent.stop_loss == pytest.approx(stop)
    assert intent.reason.startswith("z ")


EXITS = [
    (1.0, {"z": 0.2}, "mean_reversion_complete"),
    (-1.0, {"z": -0.29}, "mean_reversion_complete"),
    (1.0, {"z": -3.1}, "zscore_stop_long"),
    (-1.0, {"z": 3.1}, "zscore_stop_short"),
    (1.0, {"z": 3.5}, None),  # a long far above the mean is in profit: hold on
    (1.0, {"z": -1.0}, None),
]


@pytest.mark.parametrize(("held", "values", "reason"), EXITS)
def test_exits_come_first_with_a_position(held: float, values: dict[str, float], reason: str | None) -> None:
    intents = decide({**values, "rsi": 90, "close": 200}, held=held)  # entry conditions would hold: ignored
    if reason is None:
        assert intents == []
    else:
        (intent,) = intents
        assert intent.kind == "close" and intent.reason.startswith(reason)


def test_thresholds_must_rise_and_shorts_need_a_perp() -> None:
    text = BOT.format(symbol=PERP, extra=", entry_z: 3.5")
    assert any("exit_z < entry_z < stop_z" in i.message for i in issues_of(text))
    spot = BOT.format(symbol="ETH/USDT", extra="")
    assert any("cannot be sold short" in i.message for i in issues_of(spot))
    compile_yaml(BOT.format(symbol="ETH/USDT", extra=", allow_short: false"))


def test_an_optional_reference_is_checked_like_a_required_one() -> None:
    text = BOT.format(symbol=PERP, extra="").replace("rsi: rsi,", "rsi: rsii,")
    assert any("rsii" in i.message for i in issues_of(text))


def test_the_prediction_regime_throttles_entries_on_real_data(tmp_path: Path) -> None:
    """ETH 15m with Kalshi's recession odds as the risk gauge: no entry while the odds say CRISIS (>= 30%),
    entries need |z| > 2.5 in HIGH_RISK (>= 23%) and 2 otherwise; checked against the snapshots themselves."""
    candles = data_path("candles", "binance-usdm", "ETHUSDT-15m.csv.gz")
    snapshots = data_path("prediction", "kalshi-macro-daily-2026q1.csv.gz")
    store = Store(tmp_path / "r.db")
    bot = compile_file(ROOT / "examples" / "mean_reversion_macro.yaml")
    options = RunOptions({"ETH/USDC:USDC": str(candles), "pm": str(snapshots)}, 1768348800000, 1773230400000)
    run = backtest(store, bot, options)["run_id"]
    entries = store.rows("SELECT t, payload FROM intents WHERE run_id = ? AND kind = 'target'", (run,))
    assert len(entries) >= 10
    odds = [(t, p) for t, p in _kalshi_recession(snapshots)]
    times = [t for t, _ in odds]
    thresholds = set()
    for entry in entries:
        p = odds[bisect_right(times, entry["t"]) - 1][1]
        assert p < 0.3, f"an entry at {entry['t']} while the odds were {p}: CRISIS"
        reason = json.loads(entry["payload"])["reason"]
        threshold = "2.5" if p >= 0.23 else "2"
        assert re.match(rf"z -?[0-9.]+ [<>] -?{threshold} ", reason), reason
        thresholds.add(threshold)
    assert thresholds == {"2", "2.5"}


def _kalshi_recession(path: Path) -> list[tuple[int, float]]:
    with gzip.open(path, "rt") as f:
        rows = [r for r in csv.DictReader(f) if r["ticker"] == "KXRECSSNBER-26"]
    return sorted(
        (
            int(datetime.fromisoformat(r["fetched_at_utc"].replace("Z", "+00:00")).timestamp() * 1000),
            float(r["yes_probability"]),
        )
        for r in rows
    )
