"""Funding of perpetual swaps: when it is paid and at what rate, from a venue's history or a model.

A rate is per funding interval, as a fraction (0.0001 = 1 bp); at each funding time a position pays
``quantity * mark * rate`` (a long pays a positive rate, a short receives it). Files are the format of
shared/data/funding: ``timestamp,funding_rate[,premium]`` with ms UTC times.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runner.errors import DataError


class Funding(Protocol):
    """Funding events of one symbol."""

    def events(self, after: int, until: int, close: float) -> Sequence[tuple[int, float]]:
        """(time, rate) of the funding times in ``(after, until]``; ``close`` is the price at ``until``."""
        ...


class NoFunding:
    """The zero model: nothing is ever paid."""

    def events(self, after: int, until: int, close: float) -> Sequence[tuple[int, float]]:
        return ()


@dataclass
class ConstantFunding:
    """The same rate at every multiple of ``every_ms`` since the epoch (8h: 00:00, 08:00, 16:00 UTC)."""

    rate: float
    every_ms: int

    def events(self, after: int, until: int, close: float) -> Sequence[tuple[int, float]]:
        first = after - after % self.every_ms + self.every_ms
        return [(t, self.rate) for t in range(first, until + 1, self.every_ms)]


@dataclass
class PremiumFunding:
    """AI Perp Trader's heuristic (mode B): ``+rate`` when the price is above its EMA (alpha 2/25, one update
    per bar), ``-rate`` below, paid every ``every_ms``: longs pay when the market trades rich."""

    rate: float
    every_ms: int
    _ema: float | None = None

    def events(self, after: int, until: int, close: float) -> Sequence[tuple[int, float]]:
        self._ema = close if self._ema is None else self._ema + 2 / 25 * (close - self._ema)
        first = after - after % self.every_ms + self.every_ms
        sign = 1.0 if close > self._ema else -1.0 if close < self._ema else 0.0
        return [(t, sign * self.rate) for t in range(first, until + 1, self.every_ms)]


@dataclass
class FundingHistory:
    """Recorded funding of a venue: each rate is paid at its own time."""

    path: str
    times: array[int]
    rates: array[float]

    def events(self, after: int, until: int, close: float) -> Sequence[tuple[int, float]]:
        lo, hi = bisect_right(self.times, after), bisect_right(self.times, until)
        return list(zip(self.times[lo:hi], self.rates[lo:hi], strict=True))


def load_funding(path: str) -> FundingHistory:
    """Read a funding file; raises DataError naming the file and line of the first problem."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={"timestamp": pa.int64(), "funding_rate": pa.float64()},
                include_columns=["timestamp", "funding_rate"],
            ),
        )
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise DataError(path, first, hint="expected columns timestamp,funding_rate") from None
    times, rates = table.column("timestamp").combine_chunks(), table.column("funding_rate").combine_chunks()
    if len(times) == 0:
        raise DataError(path, "no funding rows")
    for name, column in (("timestamp", times), ("funding_rate", rates)):
        if column.null_count:
            raise DataError(path, f"empty {name}", _line(pc.index(pc.is_null(column), True).as_py()))
    if pc.any(pc.is_nan(rates)).as_py():
        raise DataError(path, "funding_rate is NaN", _line(pc.index(pc.is_nan(rates), True).as_py()))
    if len(times) > 1:
        steps = pc.subtract(times.slice(1), times.slice(0, len(times) - 1))
        bad = pc.less_equal(steps, 0)
        if pc.any(bad).as_py():
            i = pc.index(bad, True).as_py() + 1
            raise DataError(path, "timestamps must increase", _line(i), hint="sort the file and drop duplicate rows")
    return FundingHistory(path, array("q", times.to_pylist()), array("d", rates.to_pylist()))


def _line(index: int) -> int:
    return index + 2
