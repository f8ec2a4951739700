"""Subnet files: Bittensor alpha prices and subnet health, read from a ``bittensor/subnets`` directory and
turned into bars.

``prices-5m.csv.gz`` (``snapshot_utc, block, netuid, price_tao, tao_pool_tao, emission_enabled``) holds a
snapshot of every subnet about every five minutes. A bar of a timeframe is built from the snapshots taken
within it: open, high, low and close of ``price_tao``, and the pool and emission flag of its last snapshot.
A bar with no snapshot does not exist: gaps stay gaps. The last bar is kept only when the snapshots reach
within five minutes of its close, so an unfinished bar is never replayed as closed.

``health.csv.gz`` (``snapshot_utc, netuid, validators, active_neurons, health_score, ...``, about hourly) is
joined as of each bar's close: a bar sees the latest health snapshot taken before it closed, never a later one.
Every problem names the file and, where there is one, the line.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blocks.sources.subnet_stability import daily_volatility, stability
from runner.errors import DataError

PRICES = "prices-5m.csv.gz"
HEALTH = "health.csv.gz"
SNAPSHOT_MS = 300_000
"""The snapshots' cadence: a bar is complete when the data reaches within this of its close."""

_PRICE_COLUMNS = ("snapshot_utc", "netuid", "price_tao", "tao_pool_tao", "emission_enabled")
_HEALTH_COLUMNS = ("snapshot_utc", "netuid", "validators", "active_neurons", "health_score")
FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "tao_pool",
    "emission",
    "validators",
    "active_neurons",
    "health",
    "volatility",
    "stability",
)
"""The values of a bar, in the order SubnetBars.columns gives them."""


@dataclass(frozen=True)
class SubnetBars:
    """Bars of one subnet at one timeframe; ``time`` holds open times in ms, ``columns`` one list per FIELDS."""

    netuid: int
    timeframe_ms: int
    time: list[int]
    columns: tuple[list[Any], ...]

    def __len__(self) -> int:
        return len(self.time)

    def column(self, name: str) -> list[Any]:
        return self.columns[FIELDS.index(name)]


def load_subnets(
    directory: str, netuids: Sequence[int], timeframe_ms: int, window: int, until: int | None = None
) -> dict[int, SubnetBars]:
    """Bars of each subnet in ``netuids`` from the files in ``directory``; ``window`` is the volatility window.
    With ``until`` (ms), snapshots from then on are left out, as if the files ended there."""
    folder = Path(directory)
    if not folder.is_dir():
        raise DataError(directory, "not a directory", hint=f"give the bittensor/subnets directory that holds {PRICES}")
    bars = _price_bars(str(folder / PRICES), netuids, timeframe_ms, until)
    health = _health(str(folder / HEALTH), netuids, until)
    out = {}
    for netuid in netuids:
        time, (o, h, lo, c, pool, emission) = bars[netuid]
        closes = [t + timeframe_ms for t in time]
        known = health.get(netuid, ([], []))
        rows = [_as_of(known, close) for close in closes]
        validators = [r[0] if r else None for r in rows]
        active = [r[1] if r else None for r in rows]
        score = [r[2] if r else None for r in rows]
        sigma = daily_volatility(time, c, window)
        stable = [stability(*args) for args in zip(sigma, pool, validators, active, emission, strict=True)]
        columns = (o, h, lo, c, pool, emission, validators, active, score, sigma, stable)
        out[netuid] = SubnetBars(netuid, timeframe_ms, time, columns)
    return out


def _read(path: str, columns: Sequence[str], types: dict[str, Any]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={"snapshot_utc": pa.timestamp("s"), "netuid": pa.int64(), **types}
            ),
        )
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (pa.ArrowInvalid, OSError) as exc:
        first = (str(exc).strip().splitlines() or ["unreadable"])[0]
        raise DataError(path, first.replace("CSV parse error: ", ""), hint=f"expected {','.join(columns)}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(path, f"missing column{'s' * (len(missing) > 1)} {', '.join(missing)}", 1)
    return table


def _price_bars(
    path: str, netuids: Sequence[int], timeframe_ms: int, until: int | None
) -> dict[int, tuple[list[int], list[list[float]]]]:
    """Per netuid: bar open times and the columns open, high, low, close, tao_pool, emission."""
    import pyarrow as pa
    import pyarrow.compute as pc

    floats = {c: pa.float64() for c in _PRICE_COLUMNS[2:]}
    table = _read(path, _PRICE_COLUMNS, floats)
    if table.num_rows == 0:
        raise DataError(path, "no snapshots in the file")
    for name in _PRICE_COLUMNS:
        bad = pc.is_null(table.column(name), nan_is_null=True)
        if pc.any(bad).as_py():
            raise DataError(path, f"{name} is empty or NaN", pc.index(bad, True).as_py() + 2)
    price = table.column("price_tao")
    bad = pc.less_equal(price, 0)
    if pc.any(bad).as_py():
        i = pc.index(bad, True).as_py()
        raise DataError(path, f"price_tao must be positive (got {price[i].as_py():g})", i + 2)
    ms = pc.multiply(table.column("snapshot_utc").cast(pa.int64()), 1000).combine_chunks()
    steps = pc.subtract(ms.slice(1), ms.slice(0, len(ms) - 1))
    if pc.any(pc.less(steps, 0)).as_py():
        i = pc.index(pc.less(steps, 0), True).as_py() + 1
        raise DataError(path, "snapshot_utc goes back in time", i + 2, "rows must be in time order")
    if until is not None:
        before = pc.less(ms, until)
        table, ms = table.filter(before), ms.filter(before)
        if table.num_rows == 0:
            raise DataError(path, "no snapshots before the cut")
    end = pc.max(ms).as_py()
    present = set(pc.unique(table.column("netuid")).to_pylist())
    absent = [n for n in netuids if n not in present]
    if absent:
        raise DataError(path, f"no snapshots of netuid {', '.join(map(str, absent))}")
    tf = pa.scalar(timeframe_ms, pa.int64())
    grouped = (
        pa.table(
            {
                "netuid": table.column("netuid"),
                "bucket": pc.multiply(pc.divide(ms, tf), tf),
                "ms": ms,
                "price": table.column("price_tao"),
                "pool": table.column("tao_pool_tao"),
                "emission": table.column("emission_enabled"),
            }
        )
        .filter(pc.is_in(table.column("netuid"), pa.array(list(netuids), pa.int64())))
        # first and last follow the rows' order only when the aggregation runs on one thread
        .group_by(["netuid", "bucket"], use_threads=False)
        .aggregate(
            [
                ("price", "first"),
                ("price", "max"),
                ("price", "min"),
                ("price", "last"),
                ("pool", "last"),
                ("emission", "last"),
            ]
        )
        .sort_by([("netuid", "ascending"), ("bucket", "ascending")])
    )
    names = ("price_first", "price_max", "price_min", "price_last", "pool_last", "emission_last")
    netuid_column = grouped.column("netuid").to_pylist()
    buckets = grouped.column("bucket").to_pylist()
    values = [grouped.column(n).to_pylist() for n in names]
    out: dict[int, tuple[list[int], list[list[float]]]] = {}
    start = 0
    for stop in range(1, len(buckets) + 1):
        if stop < len(buckets) and netuid_column[stop] == netuid_column[start]:
            continue
        unfinished = end < buckets[stop - 1] + timeframe_ms - SNAPSHOT_MS  # the data ends inside this bar
        kept = stop - 1 if unfinished else stop
        out[netuid_column[start]] = (buckets[start:kept], [v[start:kept] for v in values])
        start = stop
    return out


def _health(
    path: str, netuids: Sequence[int], until: int | None
) -> dict[int, tuple[list[int], list[tuple[float, float, float | None]]]]:
    """Per netuid: snapshot times (ms) and (validators, active neurons, health score), in time order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _read(path, _HEALTH_COLUMNS, {c: pa.float64() for c in _HEALTH_COLUMNS[2:]})
    for name in _HEALTH_COLUMNS[:4]:
        bad = pc.is_null(table.column(name), nan_is_null=True)
        if pc.any(bad).as_py():
            raise DataError(path, f"{name} is empty or NaN", pc.index(bad, True).as_py() + 2)
    table = table.filter(pc.is_in(table.column("netuid"), pa.array(list(netuids), pa.int64())))
    ms = pc.multiply(table.column("snapshot_utc").cast(pa.int64()), 1000).to_pylist()
    rows = zip(
        table.column("netuid").to_pylist(),
        ms,
        table.column("validators").to_pylist(),
        table.column("active_neurons").to_pylist(),
        table.column("health_score").to_pylist(),
        strict=True,
    )
    out: dict[int, tuple[list[int], list[tuple[float, float, float | None]]]] = {}
    for netuid, t, validators, active, score in sorted(rows, key=lambda r: (r[0], r[1])):
        if until is not None and t >= until:
            continue
        times, values = out.setdefault(netuid, ([], []))
        times.append(t)
        values.append((validators, active, score))
    return out


def _as_of(
    known: tuple[list[int], list[tuple[float, float, float | None]]], t: int
) -> tuple[float, float, float | None] | None:
    """The latest health snapshot taken before ``t``, or None."""
    times, values = known
    i = bisect_left(times, t)
    return values[i - 1] if i else None
