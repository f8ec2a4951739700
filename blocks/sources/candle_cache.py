"""A cache of parsed candle files: packed arrays keyed by the file's path, size and modification time.

Parsing and checking a 1M-row CSV costs more than half a second; reading the packed arrays back costs a
few milliseconds. The cache lives in ``$RUNNER_CACHE_DIR`` (default ``~/.cache/bot-runner/candles``); a
file that changes gets a new key, and a cache that cannot be written is simply not used.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from array import array
from pathlib import Path

from blocks.sources.candle_files import CandleSeries

_MAGIC = b"BRCANDLE1"
_HEADER = struct.Struct("<9sqq")  # magic, timeframe ms, rows
_COLUMNS = ("time", "open", "high", "low", "close", "volume")


def cache_dir() -> Path:
    return Path(os.environ.get("RUNNER_CACHE_DIR") or Path.home() / ".cache" / "bot-runner" / "candles")


def _key(path: str) -> Path | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    ident = f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{_MAGIC.decode()}"
    return cache_dir() / (hashlib.sha256(ident.encode()).hexdigest()[:32] + ".bin")


def read(path: str) -> CandleSeries | None:
    """The cached series for ``path``, or None."""
    key = _key(path)
    if key is None or not key.exists():
        return None
    data = key.read_bytes()
    if len(data) < _HEADER.size:
        return None
    magic, timeframe, rows = _HEADER.unpack_from(data)
    if magic != _MAGIC or len(data) != _HEADER.size + rows * 8 * len(_COLUMNS):
        return None
    view = memoryview(data)[_HEADER.size :]
    columns = []
    for i, name in enumerate(_COLUMNS):
        column = array("q" if name == "time" else "d")
        column.frombytes(view[i * rows * 8 : (i + 1) * rows * 8])
        columns.append(column)
    return CandleSeries(path, timeframe, *columns)


def write(series: CandleSeries) -> None:
    """Keep ``series`` for the next run; never fails the run."""
    key = _key(series.path)
    if key is None:
        return
    try:
        key.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=key.parent, delete=False) as tmp:
            tmp.write(_HEADER.pack(_MAGIC, series.timeframe_ms, len(series)))
            for name in _COLUMNS:
                column = getattr(series, name)
                tmp.write(column if isinstance(column, array) else array("q" if name == "time" else "d", column))
        os.replace(tmp.name, key)
    except OSError:
        return
