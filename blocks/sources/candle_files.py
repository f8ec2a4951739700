"""Candle files: read, check and resample ``timestamp,open,high,low,close,volume`` CSVs (gzip or plain).

``timestamp`` is the candle's open time in ms since the epoch, UTC (the ccxt convention). Gaps are kept
as gaps: no candle is ever invented. Every problem names the file and the line.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from runner.durations import format_duration
from runner.errors import DataError

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class CandleSeries:
    """Candles of one symbol, as columns; ``time`` holds open times in ms."""

    path: str
    timeframe_ms: int
    time: Sequence[int]
    open: Sequence[float]
    high: Sequence[float]
    low: Sequence[float]
    close: Sequence[float]
    volume: Sequence[float]

    def __len__(self) -> int:
        return len(self.time)


def load_candles(path: str) -> CandleSeries:
    """Read and check a candle file; raises DataError naming the file and line of the first problem."""
    from blocks.sources import candle_cache

    cached = candle_cache.read(path)
    if cached is not None:
        return cached
    import pyarrow as pa

    try:
        series = _load(path)
    finally:
        pa.default_memory_pool().release_unused()  # the parsed table is gone; give its memory back
    candle_cache.write(series)
    return series


def _load(path: str) -> CandleSeries:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={"timestamp": pa.int64(), **{c: pa.float64() for c in COLUMNS[1:]}}
            ),
        )
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(path, _arrow_message(str(exc)), hint=f"expected columns {','.join(COLUMNS)}") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(
            path,
            f"missing column{'s' * (len(missing) > 1)} {', '.join(missing)} (found {', '.join(table.column_names)})",
            1,
            f"the header must be {','.join(COLUMNS)}",
        )
    if table.num_rows == 0:
        raise DataError(path, "no candles in the file")
    columns = {name: table.column(name).combine_chunks() for name in COLUMNS}
    for name, column in columns.items():
        bad = pc.is_null(column, nan_is_null=True)
        if pc.any(bad).as_py():
            raise DataError(path, f"{name} is empty or NaN", _line(pc.index(bad, True).as_py()))
    time = columns["timestamp"]
    if len(time) > 1:
        steps = pc.subtract(time.slice(1), time.slice(0, len(time) - 1))
        wrong = pc.less_equal(steps, 0)
        if pc.any(wrong).as_py():
            i = pc.index(wrong, True).as_py()
            before, after = time[i].as_py(), time[i + 1].as_py()
            what = "duplicate timestamp" if after == before else "timestamp goes back in time"
            raise DataError(
                path,
                f"{what} {after} (previous line has {before})",
                _line(i + 1),
                "rows must be sorted by timestamp with no duplicates",
            )
        timeframe = pc.min(steps).as_py()
    else:
        timeframe = 60_000
    low, high = columns["low"], columns["high"]
    impossible = pc.or_(pc.or_(pc.less_equal(low, 0), pc.greater(low, high)), pc.is_inf(high))
    if pc.any(impossible).as_py():
        i = pc.index(impossible, True).as_py()
        raise DataError(path, f"impossible candle: low {low[i].as_py()}, high {high[i].as_py()}", _line(i))
    return CandleSeries(path, timeframe, _packed(time, "q"), *(_packed(columns[n], "d") for n in COLUMNS[1:]))


def merged_timeline(series: Mapping[str, Any]) -> tuple[list[int], list[list[tuple[str, int]]]]:
    """The distinct bar close times of several symbols' series, ascending, and for each the (symbol, bar index)
    pairs that close then. Each series needs ``time`` (open times) and ``timeframe_ms``."""
    entries = sorted((t + s.timeframe_ms, sym, i) for sym, s in series.items() for i, t in enumerate(s.time))
    timeline: list[int] = []
    at: list[list[tuple[str, int]]] = []
    for close, sym, i in entries:
        if not timeline or timeline[-1] != close:
            timeline.append(close)
            at.append([])
        at[-1].append((sym, i))
    return timeline, at


def until(series: CandleSeries, close: int) -> CandleSeries:
    """The candles that close at or before ``close``, as if the file ended there."""
    end = bisect_right(series.time, close - series.timeframe_ms)
    if end == len(series):
        return series
    return replace(
        series,
        time=series.time[:end],
        open=series.open[:end],
        high=series.high[:end],
        low=series.low[:end],
        close=series.close[:end],
        volume=series.volume[:end],
    )


def shifted(times: Sequence[int], by: int) -> array[int]:
    """``times`` plus ``by``, computed by Arrow (a Python loop over a million values costs 0.1 s)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(times):
        return array("q")
    if not isinstance(times, array) or times.typecode != "q":
        times = array("q", times)
    column = pa.Array.from_buffers(pa.int64(), len(times), [None, pa.py_buffer(times)])
    return _packed(pc.add(column, pa.scalar(by, pa.int64())), "q")  # type: ignore[no-any-return]


def _packed(column: Any, typecode: str) -> Any:
    """An array.array sharing nothing with Arrow: 8 bytes a value instead of a Python object each."""
    out = array(typecode)
    start = column.offset * 8
    out.frombytes(memoryview(column.buffers()[1])[start : start + len(column) * 8])
    return out


def resample(series: CandleSeries, timeframe_ms: int) -> CandleSeries:
    """Candles of a coarser timeframe; a bucket missing candles is kept as it is, the unfinished last one dropped."""
    if timeframe_ms == series.timeframe_ms:
        return series
    if timeframe_ms < series.timeframe_ms or timeframe_ms % series.timeframe_ms:
        raise DataError(
            series.path,
            f"holds {format_duration(series.timeframe_ms // 1000)} candles, which cannot "
            f"make {format_duration(timeframe_ms // 1000)} candles",
            hint="use a timeframe that is a multiple of the file's",
        )
    out: tuple[list[float], ...] = ([], [], [], [], [], [])
    t_out, o_out, h_out, l_out, c_out, v_out = out
    bucket = None
    for t, o, h, lo, c, v in zip(
        series.time, series.open, series.high, series.low, series.close, series.volume, strict=True
    ):
        start = t - t % timeframe_ms
        if start != bucket:
            bucket = start
            t_out.append(start)
            o_out.append(o)
            h_out.append(h)
            l_out.append(lo)
            c_out.append(c)
            v_out.append(v)
        else:
            if h > h_out[-1]:
                h_out[-1] = h
            if lo < l_out[-1]:
                l_out[-1] = lo
            c_out[-1] = c
            v_out[-1] += v
    if series.time and series.time[-1] + series.timeframe_ms < (bucket or 0) + timeframe_ms:
        for column in out:
            column.pop()
    return CandleSeries(
        series.path,
        timeframe_ms,
        array("q", (int(t) for t in t_out)),
        *(array("d", col) for col in (o_out, h_out, l_out, c_out, v_out)),
    )


def _line(index: int) -> int:
    """File line of data row ``index`` (the header is line 1)."""
    return index + 2


def _arrow_message(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "unreadable"
    return first.replace("CSV parse error: ", "").replace("In CSV column #", "column #")
