"""Properties of the streaming indicators on random series: no NaN or infinity leaks out, nothing is
reported before the documented warm-up and everything is from then on, and batch equals streaming."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocks.indicators.adx import Adx
from blocks.indicators.atr import Atr
from blocks.indicators.bollinger import Bollinger
from blocks.indicators.hurst import Hurst
from blocks.indicators.macd import Macd
from blocks.indicators.momentum import Momentum
from blocks.indicators.realized_vol import RealizedVol
from blocks.indicators.regime import Regime
from blocks.indicators.sma import Sma
from blocks.indicators.vwap import Vwap
from runner.block import Indicator

Bar = tuple[float, float, float, float]  # high, low, close, volume


def bars_of(closes: list[float]) -> list[Bar]:
    """Bars around the closes: high and low 1% away, volume varying with the index."""
    return [(c * 1.01, c * 0.99, c, 1.0 + i % 7) for i, c in enumerate(closes)]


# name -> (block, the inputs it reads from a bar, the index of its first report for each output)
CASES: dict[str, tuple[Indicator, Callable[[Bar], tuple[float, ...]], tuple[int, ...]]] = {
    "sma": (Sma("x", Sma.Config(of="c.close", period=5)), lambda b: (b[2],), (4,)),
    "macd": (Macd("x", Macd.Config(of="c.close", fast=3, slow=6, signal=4)), lambda b: (b[2],), (5, 8, 8)),
    "bollinger": (Bollinger("x", Bollinger.Config(of="c.close", period=5)), lambda b: (b[2],), (4, 4, 4, 4, 4)),
    "atr": (Atr("x", Atr.Config(high="c.high", low="c.low", close="c.close", period=5)), lambda b: b[:3], (5,)),
    "adx": (Adx("x", Adx.Config(high="c.high", low="c.low", close="c.close", period=5)), lambda b: b[:3], (9, 5, 5)),
    "hurst": (Hurst("x", Hurst.Config(of="c.close", window=8, max_lag=4)), lambda b: (b[2],), (11,)),
    "realized_vol": (
        RealizedVol("x", RealizedVol.Config(of="c.close", timeframe="1h", window=5)),
        lambda b: (b[2],),
        (5,),
    ),
    "momentum": (Momentum("x", Momentum.Config(of="c.close", period=3)), lambda b: (b[2],), (3,)),
    "vwap": (Vwap("x", Vwap.Config(price="c.close", volume="c.volume", period=4)), lambda b: (b[2], b[3]), (3,)),
    "regime": (
        Regime("x", Regime.Config(adx="a", trend="e", volatility="v", slope_bars=3, volatility_window=6)),
        lambda b: (b[0] - b[1], b[2], b[3]),
        (5, 5, 5),
    ),
}


def outputs(block: Indicator, read: Callable[[Bar], tuple[float, ...]], bars: list[Bar]) -> list[tuple[Any, ...]]:
    update = block.start("X/Y")
    width = len(block.outputs)
    results = []
    for bar in bars:
        result = update(*read(bar))
        results.append((result,) if width == 1 else (result or (None,) * width))
    return results


WIGGLE = [100.0 + (i * 7919 % 13) - 6 + 0.5 * (i % 2) for i in range(60)]
"""Up and down, never constant, never repeating a window: every output is defined once warm."""


@pytest.mark.parametrize("name", CASES)
def test_warm_up_is_exact(name: str) -> None:
    block, read, firsts = CASES[name]
    results = outputs(block, read, bars_of(WIGGLE))
    for i, first in enumerate(firsts):
        column = [r[i] for r in results]
        assert column.index(next(v for v in column if v is not None)) == first, f"{name} output {i}"
        assert None not in column[first:], f"{name} output {i} goes missing after warm-up"


prices = st.floats(1e-6, 1e9, allow_nan=False, allow_infinity=False)


def runs() -> st.SearchStrategy[list[float]]:
    """Positive series made of runs, so constant stretches (the edge cases) are common."""
    return st.lists(st.tuples(prices, st.integers(1, 8)), min_size=1, max_size=40).map(
        lambda pairs: [v for v, k in pairs for _ in range(k)]
    )


@settings(max_examples=150)
@given(closes=runs(), name=st.sampled_from(sorted(CASES)))
def test_no_nan_or_infinity_and_nothing_before_warm_up(closes: list[float], name: str) -> None:
    block, read, firsts = CASES[name]
    for i, row in enumerate(outputs(block, read, bars_of(closes))):
        for value, first in zip(row, firsts, strict=True):
            if i < first:
                assert value is None, f"{name} reported at {i}, before its warm-up ({first})"
            elif isinstance(value, float):
                assert math.isfinite(value), f"{name} leaked {value} at {i}"


@settings(max_examples=200)
@given(xs=st.lists(st.one_of(prices, st.just(0.0), st.floats(-1e6, 1e6)), max_size=60), period=st.integers(1, 12))
def test_momentum_batch_equals_streaming(xs: list[float], period: int) -> None:
    block = Momentum("m", Momentum.Config(of="c.close", period=period))
    update = block.start("X/Y")
    assert block.batch(xs) == [update(x) for x in xs]


def test_batch_declines_columns_with_gaps() -> None:
    # A column written by a streaming step may hold None: the backtest then streams the block instead.
    assert Momentum("m", Momentum.Config(of="c.close")).batch([1.0, None, 2.0]) is None  # type: ignore[list-item]


def test_constant_windows_give_exact_zeros_not_residues() -> None:
    # After a move, a window of equal values has no spread: exactly 0, so %B and the exponent are undefined.
    closes = [17973.65, 18469.34] + [10857.94] * 10
    bollinger = outputs(CASES["bollinger"][0], lambda b: (b[2],), bars_of(closes))[-1]
    assert bollinger == (10857.94, 10857.94, 10857.94, None, 0.0)
    vol = RealizedVol("v", RealizedVol.Config(of="c.close", timeframe="1h", window=5)).start("X/Y")
    assert [vol(x) for x in closes][-1] == 0.0
    hurst = Hurst("h", Hurst.Config(of="c.close", window=8, max_lag=2)).start("X/Y")
    assert [hurst(x) for x in closes + [10857.94] * 4][-1] is None


def test_vwap_of_a_window_without_volume_is_none() -> None:
    update = Vwap("v", Vwap.Config(price="c.close", volume="c.volume", period=2)).start("X/Y")
    assert [update(p, v) for p, v in [(10.0, 1.0), (20.0, 3.0), (30.0, 0.0), (40.0, 0.0)]] == [None, 17.5, 20.0, None]


def test_logarithmic_indicators_name_a_non_positive_input() -> None:
    for block in (
        RealizedVol("v", RealizedVol.Config(of="c.close", timeframe="1h")),
        Hurst("h", Hurst.Config(of="c.close")),
    ):
        update = block.start("X/Y")
        update(1.0)
        with pytest.raises(ValueError, match=r"positive values; got -2\.0"):
            update(-2.0)
