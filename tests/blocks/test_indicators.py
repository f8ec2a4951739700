"""indicator.ema, indicator.rsi and indicator.zscore against references written here in plain Python."""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import pytest
from conftest import data_path
from hypothesis import given, settings
from hypothesis import strategies as st

from blocks.indicators.ema import Ema
from blocks.indicators.rsi import Rsi
from blocks.indicators.zscore import ZScore

ROWS = 20_000
SERIES = ["BTCUSDT-1h.csv.gz", "ETHUSDT-1h.csv.gz"]


@cache
def closes(name: str) -> tuple[float, ...]:
    """The first ROWS closes of a real hourly spot series."""
    with gzip.open(data_path("candles", "binance-spot", name), "rt") as f:
        return tuple(float(r["close"]) for _, r in zip(range(ROWS), csv.DictReader(f), strict=False))


def stream(update: Callable[[float], Any], xs: Sequence[float]) -> list[Any]:
    return [update(x) for x in xs]


def ema(n: int) -> Ema:
    return Ema("e", Ema.Config(of="candles.close", period=n))


def rsi(n: int) -> Rsi:
    return Rsi("r", Rsi.Config(of="candles.close", period=n))


def zscore(n: int) -> ZScore:
    return ZScore("z", ZScore.Config(of="candles.close", window=n))


# --- references -----------------------------------------------------------------------------------------


def reference_ema(xs: Sequence[float], n: int) -> list[float | None]:
    """alpha = 2/(n+1), seeded with the first value, reported from the n-th value (index n-1) on."""
    alpha = 2 / (n + 1)
    out: list[float | None] = []
    value = xs[0]
    for i, x in enumerate(xs):
        if i:
            value = alpha * x + (1 - alpha) * value
        out.append(value if i >= n - 1 else None)
    return out


def reference_rsi(xs: Sequence[float], n: int) -> list[float | None]:
    """perp-bot's RSI: gains and losses of the diffs, each smoothed like pandas
    ``ewm(alpha=1/n, adjust=False, min_periods=n).mean()`` (diff's leading NaN is skipped, so the first
    change seeds the average and the n-th change is the first reported), 100 when the average loss is 0."""
    alpha = 1 / n
    out: list[float | None] = [None]
    gain = loss = 0.0
    for i in range(1, len(xs)):
        change = xs[i] - xs[i - 1]
        up, down = max(change, 0.0), max(-change, 0.0)
        if i == 1:
            gain, loss = up, down
        else:
            gain = (1 - alpha) * gain + alpha * up
            loss = (1 - alpha) * loss + alpha * down
        if i < n:
            out.append(None)
        elif loss == 0:
            out.append(100.0)
        else:
            out.append(100 - 100 / (1 + gain / loss))
    return out


def reference_zscore(xs: Sequence[float], n: int) -> list[tuple[float | None, float | None, float | None]]:
    """Two passes over each window of n: mean, population std, (x - mean) / std; None while fewer than n
    values, and a None z-score when the std is 0."""
    out: list[tuple[float | None, float | None, float | None]] = []
    for i, x in enumerate(xs):
        if i < n - 1:
            out.append((None, None, None))
            continue
        window = xs[i - n + 1 : i + 1]
        mean = math.fsum(window) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in window) / n)
        out.append(((x - mean) / std if std else None, mean, std))
    return out


def test_the_rsi_reference_on_a_hand_example() -> None:
    # n = 2, alpha 1/2. Changes +1, -2, +3: gains 1, 0, 3; losses 0, 2, 0.
    # change 1 seeds (1, 0); change 2: (0.5, 1) -> 100 - 100 / (1 + 0.5) = 33.33..;
    # change 3: (1.75, 0.5) -> 100 - 100 / (1 + 3.5) = 77.77..
    assert reference_rsi([10, 11, 9, 12], 2) == [None, None, pytest.approx(100 / 3), pytest.approx(700 / 9)]
    assert reference_rsi([1, 2, 3], 2) == [None, None, 100.0]
    assert reference_rsi([3, 2, 1], 2) == [None, None, 0.0]


def test_the_zscore_reference_on_a_hand_example() -> None:
    # window 2 of (1, 3): mean 2, std 1, z of 3 = 1
    assert reference_zscore([1.0, 3.0, 3.0], 2) == [(None, None, None), (1.0, 2.0, 1.0), (None, 3.0, 0.0)]


# --- streaming against the references on real prices ------------------------------------------------------


def close_enough(got: float | None, want: float | None, rel: float = 1e-9, scale: float = 0.0) -> bool:
    if got is None or want is None:
        return got is want
    return abs(got - want) <= rel * max(abs(want), scale)


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 2, 20, 200])
def test_ema_matches_the_reference(name: str, period: int) -> None:
    xs = closes(name)
    got, want = stream(ema(period).start("BTC/USDT"), xs), reference_ema(xs, period)
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if not close_enough(g, w)]
    assert bad == [], f"first mismatch at {bad[0]}: {got[bad[0]]} != {want[bad[0]]}"


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [2, 14, 50])
def test_rsi_matches_the_reference(name: str, period: int) -> None:
    xs = closes(name)
    got, want = stream(rsi(period).start("BTC/USDT"), xs), reference_rsi(xs, period)
    # RSI lives in 0..100: relative to its scale, 100
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if not close_enough(g, w, scale=100.0)]
    assert bad == [], f"first mismatch at {bad[0]}: {got[bad[0]]} != {want[bad[0]]}"
    assert all(0.0 <= v <= 100.0 for v in got if v is not None)


def zscore_mismatches(xs: Sequence[float], window: int, rel: float) -> list[int]:
    got, want = stream(zscore(window).start("BTC/USDT"), xs), reference_zscore(xs, window)
    bad = []
    for i, ((z, mean, std), (z_ref, mean_ref, std_ref)) in enumerate(zip(got, want, strict=True)):
        # z is bounded by sqrt(window - 1): relative to a scale of 1 where it crosses 0
        same = close_enough(mean, mean_ref, rel) and close_enough(std, std_ref, rel)
        if not (same and close_enough(z, z_ref, rel, scale=1.0)):
            bad.append(i)
    return bad


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("window", [2, 20, 48])
def test_zscore_matches_the_reference(name: str, window: int) -> None:
    bad = zscore_mismatches(closes(name), window, 1e-9)
    assert bad == [], f"{len(bad)} mismatches, first at {bad[0]}"


def test_zscore_of_a_constant_window_after_a_move_is_none() -> None:
    # window 2: after 17973.65, 18469.34 the window (10857.94, 10857.94) has std 0, so no z-score; the block
    # returns (0.0, 10857.94, 8.63e-05): squares/2 - mean**2 of values ~7115 below the anchor is not 0.
    update = zscore(2).start("X/Y")
    for x in (17973.65, 18469.34, 10857.94):
        update(x)
    assert update(10857.94) == (None, 10857.94, 0.0)


def test_zscore_std_far_from_the_first_value() -> None:
    # window 2 of (8343.46, 8343.47): std = 0.01 / 2 = 0.005; the block gives 0.0050000423 (8.5e-6 off)
    # because the first value 13529.01 anchors the sums.
    update = zscore(2).start("X/Y")
    update(13529.01)
    update(8343.46)
    _, _, std = update(8343.47)
    assert std == pytest.approx(0.005, rel=1e-9)


# --- batch == streaming ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 20, 50, 200])
def test_ema_batch_equals_streaming_on_real_closes(name: str, period: int) -> None:
    xs = list(closes(name))
    assert ema(period).batch(xs) == stream(ema(period).start("BTC/USDT"), xs)


def runs() -> st.SearchStrategy[list[float]]:
    """Float lists made of runs, so that constant stretches are common."""
    value = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
    return st.lists(st.tuples(value, st.integers(1, 12)), min_size=1, max_size=40).map(
        lambda pairs: [v for v, k in pairs for _ in range(k)]
    )


@settings(max_examples=200, deadline=None)
@given(xs=runs(), period=st.integers(1, 40))
def test_ema_batch_equals_streaming(xs: list[float], period: int) -> None:
    batch = ema(period).batch(xs)
    assert batch == stream(ema(period).start("X/Y"), xs)
    assert batch is not None and len(batch) == len(xs)


@pytest.mark.parametrize("block", [rsi(14), zscore(20)], ids=["rsi", "zscore"])
def test_blocks_without_a_batch_form_return_none(block: Rsi | ZScore) -> None:
    assert block.batch(list(closes(SERIES[0])[:100])) is None


# --- warm-up --------------------------------------------------------------------------------------------


def first_reported(values: list[Any]) -> int:
    return next(i for i, v in enumerate(values) if v is not None and v != (None, None, None))


WIGGLE = [100.0 + (i * 7919 % 13) - 6 + 0.5 * (i % 2) for i in range(300)]
"""Changes up and down, never constant, so every block reports as soon as it is warm."""


@pytest.mark.parametrize("n", [1, 2, 3, 14, 20, 200])
def test_ema_reports_from_index_n_minus_1(n: int) -> None:
    values = stream(ema(n).start("X/Y"), WIGGLE)
    assert first_reported(values) == n - 1
    assert all(v is not None for v in values[n - 1 :])


@pytest.mark.parametrize("n", [1, 2, 3, 14, 20, 200])
def test_rsi_reports_after_n_changes(n: int) -> None:
    values = stream(rsi(n).start("X/Y"), WIGGLE)
    assert first_reported(values) == n  # n changes need n + 1 values: index n
    assert all(v is not None for v in values[n:])


@pytest.mark.parametrize("n", [2, 3, 14, 20, 200])
def test_zscore_reports_after_n_values(n: int) -> None:
    values = stream(zscore(n).start("X/Y"), WIGGLE)
    assert first_reported(values) == n - 1
    assert all(v[0] is not None for v in values[n - 1 :])


def test_zscore_is_none_when_the_window_is_constant() -> None:
    update = zscore(3).start("X/Y")
    # 1, 2, 3: mean 2, std sqrt(2/3), z of 3 = 1 / sqrt(2/3) = 1.2247..
    assert [update(x) for x in (1.0, 2.0, 3.0)] == [
        (None, None, None),
        (None, None, None),
        (pytest.approx(math.sqrt(1.5)), pytest.approx(2.0), pytest.approx(math.sqrt(2 / 3))),
    ]
    update(3.0)
    assert update(3.0) == (None, 3.0, 0.0)  # 3, 3, 3: no deviation, no z-score


def test_rsi_extremes() -> None:
    assert stream(rsi(3).start("X/Y"), [1, 2, 3, 4, 5])[3:] == [100.0, 100.0]  # no losses
    assert stream(rsi(3).start("X/Y"), [5, 4, 3, 2, 1])[3:] == [0.0, 0.0]  # no gains
    assert stream(rsi(3).start("X/Y"), [2, 2, 2, 2])[3:] == [100.0]  # no change at all counts as no loss
