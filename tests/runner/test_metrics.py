"""Metrics against cases worked by hand."""

from __future__ import annotations

import math
import statistics
from array import array

import pytest

from runner.metrics import DAY_MS, annual_return_pct, curve_stats, exposure_pct, summarize, trade_stats

HOUR = 3600 * 1000


def test_a_curve_worked_by_hand() -> None:
    times = [i * 73 * DAY_MS for i in range(5)]  # five points 73 days apart: the curve spans 365 days
    equity = [100.0, 110.0, 99.0, 104.5, 121.0]
    s = summarize(times, equity, 100.0, [], 0.0)
    assert s["return_pct"] == pytest.approx(21.0)
    assert s["annual_return_pct"] == pytest.approx(21.0)  # exactly one year
    assert s["max_drawdown_pct"] == pytest.approx(10.0)  # 110 -> 99
    assert s["calmar"] == pytest.approx(2.1)
    assert s["max_drawdown_duration_days"] == pytest.approx(3 * 73)  # peak at 110 until 121 beats it
    returns = [0.1, -0.1, 5.5 / 99, 16.5 / 104.5]
    periods = 365 / 73
    assert s["sharpe"] == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(periods))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / 4)
    assert s["sortino"] == pytest.approx(statistics.mean(returns) / downside * math.sqrt(periods))


def test_a_drawdown_never_recovered_lasts_until_the_end() -> None:
    times = array("q", [0, DAY_MS, 2 * DAY_MS])
    stats = curve_stats(times, array("d", [100.0, 90.0, 95.0]), 100.0)
    assert stats["max_drawdown_pct"] == pytest.approx(10.0)
    assert stats["max_drawdown_duration_days"] == pytest.approx(2.0)


def test_a_loss_on_the_first_bar_is_under_the_starting_equity() -> None:
    times = [0, DAY_MS, 2 * DAY_MS, 3 * DAY_MS]
    stats = curve_stats(times, [90.0, 95.0, 100.0, 101.0], 100.0)
    assert stats["max_drawdown_pct"] == pytest.approx(10.0)
    assert stats["max_drawdown_duration_days"] == pytest.approx(2.0)


def test_a_flat_curve_has_no_drawdown_and_no_duration() -> None:
    stats = curve_stats([0, HOUR, 2 * HOUR], [100.0, 100.0, 100.0], 100.0)
    assert stats == {"max_drawdown_pct": 0.0, "max_drawdown_duration_days": 0.0, "sharpe": 0.0, "sortino": 0.0}


def test_trade_stats_worked_by_hand() -> None:
    s = trade_stats([10.0, -5.0, 0.0, 25.0])
    assert s == {
        "trades": 4,
        "win_rate_pct": 50.0,
        "profit_factor": 7.0,
        "avg_win": 17.5,
        "avg_loss": -2.5,
        "expectancy": 7.5,
    }
    assert trade_stats([3.0])["profit_factor"] == math.inf
    assert trade_stats([])["expectancy"] == 0.0


def test_exposure_counts_the_time_any_position_is_open() -> None:
    fills = [(10, "A", 1.0), (20, "A", -1.0), (30, "B", -2.0), (40, "A", 1.0), (50, "B", 2.0), (60, "A", -0.5)]
    # open 10..20, then 30..100 (B until 50 overlaps A from 40, and half of A is still held at the end)
    assert exposure_pct(fills, 0, 100) == pytest.approx(80.0)
    assert exposure_pct([(5, "A", 1.0)], 10, 20) == pytest.approx(100.0)  # opened before the window
    assert exposure_pct([], 0, 100) == 0.0


def test_annual_return_edges() -> None:
    assert annual_return_pct(100.0, 0.0, DAY_MS) == -100.0
    assert annual_return_pct(100.0, 150.0, 0) == 0.0
    assert annual_return_pct(100.0, 110.25, 2 * 365 * DAY_MS) == pytest.approx(5.0)
