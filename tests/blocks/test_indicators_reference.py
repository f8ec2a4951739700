"""Every new indicator against an independent reference on real hourly Binance USD-M candles (BTC, ETH).

References: TA-Lib (C) where it computes the same thing, numpy written here where it does not. Values are
compared after warm-up to 1e-9 relative; an output that crosses zero is compared relative to a stated
scale instead. Where TA-Lib seeds a smoothing differently, the comparison starts once the seed's weight
has decayed far below 1e-9, and the test says from which bar.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest
from conftest import data_path
from numpy.lib.stride_tricks import sliding_window_view

from blocks.indicators.adx import Adx
from blocks.indicators.atr import Atr
from blocks.indicators.bollinger import Bollinger
from blocks.indicators.ema import Ema
from blocks.indicators.hurst import Hurst
from blocks.indicators.macd import Macd
from blocks.indicators.momentum import Momentum
from blocks.indicators.realized_vol import RealizedVol
from blocks.indicators.regime import Regime
from blocks.indicators.sma import Sma
from blocks.indicators.vwap import Vwap

talib = pytest.importorskip("talib")

SERIES = ["BTCUSDT-1h.csv.gz", "ETHUSDT-1h.csv.gz"]
REL = 1e-9
Candles = dict[str, np.ndarray]


@cache
def candles(name: str) -> Candles:
    """Every candle of a real hourly USD-M series, as float64 columns."""
    with gzip.open(data_path("candles", "binance-usdm", name), "rt") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close", "volume")}


def stream(update: Callable[..., Any], *columns: np.ndarray) -> list[Any]:
    return [update(*args) for args in zip(*(c.tolist() for c in columns), strict=True)]


def part(values: list[Any], i: int) -> list[Any]:
    return [v[i] for v in values]


def worst(got: Sequence[float | None], want: np.ndarray, start: int = 0, scale: np.ndarray | float = 0.0) -> float:
    """The largest |got - want| / max(|want|, scale) from ``start``; fails where exactly one is missing (a
    NaN in the reference is a None from the block)."""
    want_missing = np.isnan(want[start:])
    got_missing = np.array([g is None for g in got[start:]])
    mismatch = np.flatnonzero(want_missing != got_missing)
    first = start + int(mismatch[0]) if mismatch.size else 0
    assert mismatch.size == 0, f"reported/missing differ first at bar {first}: {got[first]} vs {want[first]}"
    values = np.array([np.nan if g is None else g for g in got])
    denominator = np.maximum(np.abs(want), scale)
    difference = np.abs(values - want)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.where(denominator > 0, difference / denominator, difference)[start:]  # 0 where both are 0
    return float(np.nanmax(errors)) if np.isfinite(errors).any() else 0.0


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 20, 200])
def test_sma_matches_talib_sma(name: str, period: int) -> None:
    c = candles(name)["close"]
    got = stream(Sma("s", Sma.Config(of="c.close", period=period)).start("X"), c)
    assert worst(got, talib.SMA(c, period)) <= REL


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (50, 1.5)])
def test_bollinger_matches_talib_bbands(name: str, period: int, k: float) -> None:
    # TA-Lib's BBANDS with an SMA uses the population standard deviation, as perp-bot does.
    c = candles(name)["close"]
    got = stream(Bollinger("b", Bollinger.Config(of="c.close", period=period, k=k)).start("X"), c)
    upper, mid, lower = talib.BBANDS(c, period, k, k, 0)
    assert worst(part(got, 0), mid) <= REL
    assert worst(part(got, 1), upper) <= REL
    assert worst(part(got, 2), lower) <= REL
    # %B and width from TA-Lib's bands; %B is undefined on a constant window (the data opens with some)
    constant = np.r_[np.zeros(period - 1, bool), np.ptp(sliding_window_view(c, period), axis=1) == 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        percent_b = np.where(constant, np.nan, (c - lower) / (upper - lower))
    assert worst(part(got, 3), percent_b, scale=1.0) <= REL  # %B crosses 0: relative to its unit scale
    assert worst(part(got, 4), (upper - lower) / mid, scale=1e-6) <= REL  # width is 0 on constant windows


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 14, 50])
def test_atr_matches_talib_atr(name: str, period: int) -> None:
    d = candles(name)
    got = stream(
        Atr("a", Atr.Config(high="c.high", low="c.low", close="c.close", period=period)).start("X"),
        d["high"],
        d["low"],
        d["close"],
    )
    assert worst(got, talib.ATR(d["high"], d["low"], d["close"], period)) <= REL


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [14, 30])
def test_adx_matches_talib_once_the_seed_has_decayed(name: str, period: int) -> None:
    # Same definition as TA-Lib's ADX, PLUS_DI and MINUS_DI, but TA-Lib seeds the smoothed DMs with the sum of
    # period - 1 values where Wilder (and we) use period. The seed's weight decays by (1 - 1/period) a bar:
    # from bar 2,000 on it is below (29/30)^1900 ~ 1e-28. Before that, warm-up lengths still agree.
    d = candles(name)
    high, low, close = d["high"], d["low"], d["close"]
    got = stream(
        Adx("a", Adx.Config(high="c.high", low="c.low", close="c.close", period=period)).start("X"), high, low, close
    )
    assert worst(part(got, 0), talib.ADX(high, low, close, period), start=2000) <= REL
    assert worst(part(got, 1), talib.PLUS_DI(high, low, close, period), start=2000) <= REL
    assert worst(part(got, 2), talib.MINUS_DI(high, low, close, period), start=2000) <= REL


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5)])
def test_macd_matches_talib_once_the_seed_has_decayed(name: str, fast: int, slow: int, signal: int) -> None:
    # TA-Lib seeds each EMA with the mean of its first values, we with the first value (as indicator.ema);
    # from bar 2,000 on the seed weighs (1 - 2/(slow+1))^2000 < 1e-60. MACD crosses zero, so errors are
    # relative to the value or to 1e-4 of the price, whichever is larger.
    c = candles(name)["close"]
    got = stream(Macd("m", Macd.Config(of="c.close", fast=fast, slow=slow, signal=signal)).start("X"), c)
    want = talib.MACD(c, fast, slow, signal)
    for i in range(3):
        assert worst(part(got, i), want[i], start=2000, scale=1e-4 * c) <= REL


@pytest.mark.parametrize("name", SERIES)
def test_macd_line_is_the_difference_of_two_emas(name: str) -> None:
    c = candles(name)["close"]
    fast = stream(Ema("e", Ema.Config(of="c.close", period=12)).start("X"), c)
    slow = stream(Ema("e", Ema.Config(of="c.close", period=26)).start("X"), c)
    line = part(stream(Macd("m", Macd.Config(of="c.close")).start("X"), c), 0)
    assert line[25:] == [f - s for f, s in zip(fast[25:], slow[25:], strict=True)]


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 24, 168])
def test_momentum_matches_talib_rocr(name: str, period: int) -> None:
    c = candles(name)["close"]
    got = stream(Momentum("m", Momentum.Config(of="c.close", period=period)).start("X"), c)
    assert worst(got, talib.ROCR(c, period) - 1.0, scale=1e-3) <= REL  # crosses 0: relative to 0.1%


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("window", [2, 30, 240])
def test_realized_vol_matches_numpy_std(name: str, window: int) -> None:
    c = candles(name)["close"]
    got = stream(RealizedVol("v", RealizedVol.Config(of="c.close", timeframe="1h", window=window)).start("X"), c)
    returns = np.log(c[1:] / c[:-1])
    want = np.r_[
        np.full(window, np.nan), np.std(sliding_window_view(returns, window), axis=1, ddof=1) * math.sqrt(8760)
    ]
    # A quiet window's std is tiny: relative to 1e-6 a year (the data opens with constant prices)
    assert worst(got, want, scale=1e-6) <= REL


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 24, 200])
def test_vwap_matches_numpy_sums(name: str, period: int) -> None:
    d = candles(name)
    price, volume = d["close"], d["volume"]
    got = stream(Vwap("v", Vwap.Config(price="c.close", volume="c.volume", period=period)).start("X"), price, volume)
    turnover = sliding_window_view(price * volume, period).sum(axis=1)
    traded = sliding_window_view(volume, period).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.r_[np.full(period - 1, np.nan), np.where(traded > 0, turnover / traded, np.nan)]
    assert worst(got, want) <= REL


def reference_hurst(c: np.ndarray, window: int, max_lag: int) -> np.ndarray:
    """K(tau) = mean of squared tau-bar log changes over each window of `window` bars; H = slope of ln K on
    ln tau by numpy's least squares (polyfit) / 2."""
    lags = [1 << i for i in range(max_lag.bit_length())]
    logs = np.log(c)
    end = len(c) - max_lag  # windows of changes ending at bars max_lag .. len - 1
    k = np.array(
        [
            sliding_window_view((logs[max_lag:] - logs[max_lag - lag : len(c) - lag]) ** 2, window).mean(axis=1)
            for lag in lags
        ]
    )
    assert k.shape[1] == end - window + 1
    with np.errstate(divide="ignore"):
        slopes = np.polyfit(np.log(lags), np.log(k), 1)[0] / 2
    slopes[~np.all(k > 0, axis=0)] = np.nan
    return np.r_[np.full(max_lag + window - 1, np.nan), slopes]


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize(("window", "max_lag"), [(100, 16), (50, 4)])
def test_hurst_matches_numpy_polyfit(name: str, window: int, max_lag: int) -> None:
    c = candles(name)["close"]
    got = stream(Hurst("h", Hurst.Config(of="c.close", window=window, max_lag=max_lag)).start("X"), c)
    assert worst(got, reference_hurst(c, window, max_lag), scale=1.0) <= REL  # H crosses 0 rarely: scale 1


@pytest.mark.parametrize("name", SERIES)
def test_regime_matches_numpy_ranks(name: str) -> None:
    # Inputs from TA-Lib (ADX, EMA) and from numpy (realized vol), so the reference shares no code with the
    # blocks; the regime's percentile is the share of the window <= the current value (numpy, per window).
    d = candles(name)
    high, low, close = d["high"], d["low"], d["close"]
    adx, ema = talib.ADX(high, low, close, 14), talib.EMA(close, 50)
    vol = np.r_[np.nan, np.abs(np.log(close[1:] / close[:-1]))]
    ok = ~(np.isnan(adx) | np.isnan(ema) | np.isnan(vol))
    adx, ema, vol = adx[ok], ema[ok], vol[ok]
    config = Regime.Config(adx="a", trend="e", volatility="v", slope_bars=5, volatility_window=100, min_slope=0.001)
    got = stream(Regime("r", config).start("X"), adx, ema, vol)
    n = 100
    windows = sliding_window_view(vol, n)
    percentile = np.r_[np.full(n - 1, np.nan), (windows <= vol[n - 1 :, None]).sum(axis=1) / n]
    slope = np.r_[np.full(5, np.nan), ema[5:] / ema[:-5] - 1]
    slope[: n - 1] = np.nan
    trending = adx >= 25.0
    want = np.where(
        np.isnan(percentile),
        None,
        np.where(
            trending & (slope > 0.001),
            "trending_up",
            np.where(trending & (slope < -0.001), "trending_down", np.where(percentile >= 0.8, "volatile", "ranging")),
        ),
    )
    assert part(got, 0) == want.tolist()
    assert worst(part(got, 1), slope, scale=1e-3) <= REL
    assert worst(part(got, 2), percentile) == 0.0
    assert set(part(got, 0)) == {None, "trending_up", "trending_down", "volatile", "ranging"}
