"""Equity curves as stored by backtests: times as runs of equal steps, values as packed float64.

A million one-minute cycles are one run, (start, 60000, 1000000), instead of 8 MB of times; every gap in
the data starts a new run, so any series of times round-trips exactly.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Sequence

ENCODING = "times: little-endian int64 (start ms, step ms, count) runs; values: little-endian float64"
_RUN = struct.Struct("<qqq")
_SWAP = sys.byteorder == "big"


def encode_times(times: Sequence[int]) -> bytes:
    """``times`` (ascending ms) as runs of equal steps."""
    runs = bytearray()
    n, start = len(times), 0
    changes = _step_changes(times)
    while start < n:
        if start == n - 1:
            runs += _RUN.pack(times[start], 0, 1)
            break
        # the run goes on while steps equal times[start + 1] - times[start]: up to the next step change
        k = bisect_right(changes, start)
        last = changes[k] if k < len(changes) else n - 1
        runs += _RUN.pack(times[start], times[start + 1] - times[start], last - start + 1)
        start = last + 1
    return bytes(runs)


def decode_times(blob: bytes) -> array[int]:
    out = array("q")
    for start, step, count in _RUN.iter_unpack(blob):
        out.extend(range(start, start + step * count, step) if step else [start])
    return out


def encode_values(values: array[float]) -> bytes:
    if not _SWAP:
        return values.tobytes()
    swapped = array("d", values)
    swapped.byteswap()
    return swapped.tobytes()


def decode_values(blob: bytes) -> array[float]:
    out = array("d")
    out.frombytes(blob)
    if _SWAP:
        out.byteswap()
    return out


def _step_changes(times: Sequence[int]) -> list[int]:
    """Indices i where times[i + 1] - times[i] differs from times[i] - times[i - 1], ascending."""
    n = len(times)
    if n < 3:
        return []
    import pyarrow as pa
    import pyarrow.compute as pc

    column = (
        pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(times)])
        if isinstance(times, array) and times.typecode == "q"
        else pa.array(times, pa.int64())
    )
    steps = pc.subtract(column.slice(1), column.slice(0, n - 1))
    changed = pc.not_equal(steps.slice(1), steps.slice(0, n - 2))
    return [i + 1 for i in pc.indices_nonzero(changed).to_pylist()]
