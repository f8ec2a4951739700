"""indicator.regime: its rules, and its category output as other steps see it (references, a backtest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import compile_yaml, issues_of, real_candles
from pydantic import Field

from blocks.indicators.regime import REGIMES, Regime
from runner.block import BlockConfig, CategoryRef, Validator
from runner.compile import compile_text
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.loop import BacktestClock, drive
from runner.registry import BlockEntry, Registry


def regime(**settings: Any) -> Any:
    config = {"adx": "adx", "trend": "ema", "volatility": "vol", "slope_bars": 1, "volatility_window": 3}
    return Regime("regime", Regime.Config(**(config | settings))).start("BTC/USDT")


def last(update: Any, rows: list[tuple[float, float, float]]) -> tuple[Any, ...]:
    return [update(*row) for row in rows][-1]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # ADX at the threshold and the trend up 1%: trending up, whatever the volatility
        ([(25.0, 100.0, 3.0), (25.0, 100.0, 2.0), (25.0, 101.0, 1.0)], ("trending_up", 0.01, 1 / 3)),
        ([(30.0, 100.0, 1.0), (30.0, 100.0, 2.0), (30.0, 99.0, 3.0)], ("trending_down", -0.01, 1.0)),
        # ADX just under the threshold: no trend; volatility at the top of its window -> volatile
        ([(24.9, 100.0, 1.0), (24.9, 100.0, 2.0), (24.9, 105.0, 3.0)], ("volatile", 0.05, 1.0)),
        ([(40.0, 100.0, 1.0), (40.0, 100.0, 2.0), (40.0, 100.0, 3.0)], ("volatile", 0.0, 1.0)),  # strong, flat
        ([(24.9, 100.0, 3.0), (24.9, 100.0, 2.0), (24.9, 105.0, 1.0)], ("ranging", 0.05, 1 / 3)),
        # ties count as <= the current value: a constant volatility is at its 100th percentile
        ([(10.0, 100.0, 2.0), (10.0, 100.0, 2.0), (10.0, 100.0, 2.0)], ("volatile", 0.0, 1.0)),
    ],
)
def test_rules(rows: list[tuple[float, float, float]], expected: tuple[Any, ...]) -> None:
    got = last(regime(), rows)
    assert got[0] == expected[0]
    assert got[1:] == pytest.approx(expected[1:])


def test_min_slope_and_percentile_thresholds_come_from_the_config() -> None:
    rows = [(30.0, 100.0, 3.0), (30.0, 100.0, 1.0), (30.0, 100.5, 2.0)]  # slope +0.5%, percentile 2/3
    assert last(regime(min_slope=0.01), rows)[0] == "ranging"
    assert last(regime(min_slope=0.01, volatile_percentile=0.6), rows)[0] == "volatile"
    assert last(regime(min_slope=0.001), rows)[0] == "trending_up"


def test_nothing_until_both_windows_are_full() -> None:
    update = regime(slope_bars=2, volatility_window=4)
    got = [update(30.0, 100.0 + i, 1.0 + i) for i in range(5)]
    assert got[:3] == [(None, None, None)] * 3
    assert got[3][0] == "trending_up"  # 4 volatility values, 3 trend values


def test_the_volatility_window_slides() -> None:
    update = regime(volatility_window=3)
    got = [update(10.0, 100.0, v) for v in (5.0, 1.0, 2.0, 3.0, 2.5)]
    # windows (5,1,2) -> 2 is 2nd of 3; (1,2,3) -> 3 is top; (2,3,2.5) -> 2.5 is 2nd of 3
    assert [g[2] for g in got[2:]] == pytest.approx([2 / 3, 1.0, 2 / 3])


def test_a_non_positive_trend_is_an_error_naming_the_cause() -> None:
    with pytest.raises(ValueError, match=r"trend series must be positive; got 0\.0"):
        regime()(30.0, 0.0, 1.0)


BOT = """
bot: regimes
version: 1.0.0
symbols: [BTC/USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1h}}
  - {id: adx, uses: indicator.adx, with: {high: candles.high, low: candles.low, close: candles.close}}
  - {id: ema, uses: indicator.ema, with: {of: candles.close, period: 50}}
  - {id: vol, uses: indicator.realized_vol, with: {of: candles.close, timeframe: %s}}
  - {id: regime, uses: indicator.regime, with: {adx: adx, trend: ema, volatility: vol}}
  - {id: plan, uses: %s}
  - {id: exec, uses: executor.paper}
"""


def test_a_number_field_cannot_read_the_category() -> None:
    text = BOT % ("1h", "planner.ema_cross, with: {fast: regime, slow: ema}")
    assert [str(i) for i in issues_of(text)] == [
        "bot.yaml:11:54: pipeline[5].with.fast: 'regime' is category, but this field needs number; e.g. regime.slope"
    ]


def test_realized_vol_must_be_annualised_with_its_source_timeframe() -> None:
    assert [str(i) for i in issues_of(BOT % ("1m", "planner.noop"))] == [
        "bot.yaml:9:82: pipeline[3].with.timeframe: 1m, but 'candles.close' comes from 'candles', which has 1h"
        " bars; use timeframe: 1h, or the volatility is annualised wrong"
    ]


class Gate(Validator):
    """Test-only: rejects every intent outside the allowed regimes (reads a category like a planner would)."""

    class Config(BlockConfig):
        regime: CategoryRef = Field(description="A regime step")

    def start(self, ctx: BuildContext) -> None:
        self.slot = ctx.slot(self.config.regime)  # type: ignore[attr-defined]


def with_gate() -> Registry:
    registry = Registry.discover()
    registry.entries["validator.gate"] = BlockEntry("validator.gate", "test:Gate", "test", "0")
    registry._loaded["validator.gate"] = Gate
    return registry


def gated(regime_ref: str) -> str:
    text = BOT % ("1h", "planner.noop")
    return text.replace(
        "  - {id: exec", f"  - {{id: gate, uses: validator.gate, with: {{regime: {regime_ref}}}}}\n  - {{id: exec"
    )


def test_a_category_reference_reads_the_regime_and_nothing_else() -> None:
    registry = with_gate()
    compile_text(gated("regime"), "bot.yaml", registry)
    compile_text(gated("regime.value"), "bot.yaml", registry)
    with pytest.raises(Exception) as error:
        compile_text(gated("vol"), "bot.yaml", registry)
    assert [str(i) for i in error.value.issues] == [  # type: ignore[attr-defined]
        "bot.yaml:12:53: pipeline[6].with.regime: 'vol' is number, but this field needs category"
    ]


class Labels:
    """A recorder that keeps each cycle's regime."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.seen: list[Any] = []

    def record(self, cycle: Cycle) -> None:
        self.seen.append(cycle.lanes["BTC/USDT"][self.slot])


def test_a_backtest_on_real_candles_carries_the_labels_to_each_cycle(tmp_path: Path) -> None:
    bot = compile_yaml(BOT % ("1h", "planner.noop"))
    data = real_candles(tmp_path, 6_000, name="BTCUSDT-1h.csv.gz")
    pipeline = Pipeline(bot, BuildContext(bot, data={"BTC/USDT": str(data)}))
    pipeline.open()
    labels = Labels(pipeline.ctx.slot("regime"))
    assert drive(pipeline, labels, BacktestClock(), 3_600_000) == 6_000
    # The regime updates once all its inputs report: EMA(50) is the last, at bar 50 (index 49); then 200
    # volatility values fill the percentile window.
    first = 49 + 199
    assert labels.seen[:first] == [None] * first
    assert set(labels.seen[first:]) == set(REGIMES)
