"""The parsed-candle cache gives back exactly what parsing gives, and never serves a stale or broken file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blocks.sources import candle_cache
from blocks.sources.candle_files import load_candles

CSV = "timestamp,open,high,low,close,volume\n60000,1,2,0.5,1.5,10\n120000,1.5,3,1,2,20\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("RUNNER_CACHE_DIR", str(directory))
    return directory


def test_a_cached_series_equals_the_parsed_one(tmp_path: Path, cache: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text(CSV)
    parsed = load_candles(str(data))
    assert len(list(cache.iterdir())) == 1
    assert candle_cache.read(str(data)) == parsed
    assert load_candles(str(data)) == parsed


def test_a_changed_file_is_parsed_again(tmp_path: Path, cache: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text(CSV)
    load_candles(str(data))
    data.write_text(CSV + "180000,2,4,1.5,3,30\n")
    os.utime(data, ns=(1, 1))
    assert list(load_candles(str(data)).close) == [1.5, 2.0, 3.0]


def test_a_corrupt_cache_entry_is_ignored(tmp_path: Path, cache: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text(CSV)
    load_candles(str(data))
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:-3])
    assert candle_cache.read(str(data)) is None
    assert list(load_candles(str(data)).close) == [1.5, 2.0]


def test_an_unwritable_cache_does_not_fail_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("RUNNER_CACHE_DIR", str(blocker / "cache"))
    data = tmp_path / "c.csv"
    data.write_text(CSV)
    assert list(load_candles(str(data)).close) == [1.5, 2.0]
