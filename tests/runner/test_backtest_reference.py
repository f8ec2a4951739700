"""`runner backtest bots/ema_cross.yaml` matches the reference semantics, computed independently here."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BOTS, ROOT, data_path

RUNNER = str(Path(sys.executable).with_name("runner"))
FEE = 2 / 10_000


def reference_ema_cross(closes: list[float], opens: list[float], cash: float) -> tuple[int, float]:
    """EMA(20)/EMA(50) of close seeded with the first close; crosses from bar 50 on; long all-in at the
    next open with units = cash / (price * (1 + fee)); flat at the next open; equity marked at the last close."""
    fast = slow = closes[0]
    a_fast, a_slow = 2 / 21, 2 / 51
    units, trades, pending, above = 0.0, 0, None, None
    for i, close in enumerate(closes):
        if pending is not None:  # decided at the close of bar i-1, filled at the open of bar i
            price = opens[i]
            if pending == "buy" and units == 0:
                units = cash / (price * (1 + FEE))
                cash = 0.0
            elif pending == "sell" and units > 0:
                cash = units * price * (1 - FEE)
                units, trades = 0.0, trades + 1
            pending = None
        if i:
            fast += a_fast * (close - fast)
            slow += a_slow * (close - slow)
        if i >= 49:
            now = fast > slow
            if above is not None and now != above:
                pending = "buy" if now else "sell"
            above = now
    return trades, cash + units * closes[-1]


def read(path: Path, rows: int) -> tuple[list[float], list[float]]:
    with gzip.open(path, "rt") as f:
        reader = csv.DictReader(f)
        data = [r for _, r in zip(range(rows), reader, strict=False)]
    return [float(r["close"]) for r in data], [float(r["open"]) for r in data]


@pytest.mark.parametrize("rows", [20_000])
def test_ema_cross_matches_the_reference(tmp_path: Path, rows: int) -> None:
    source = data_path("candles", "binance-usdm", "BTCUSDT-1m.csv.gz")
    closes, opens = read(source, rows)
    sample = tmp_path / "btc.csv"
    with gzip.open(source, "rt") as f, sample.open("w") as out:
        for _, line in zip(range(rows + 1), f, strict=False):
            out.write(line)
    result = subprocess.run(
        [
            RUNNER,
            "backtest",
            str(BOTS / "ema_cross.yaml"),
            "--data",
            str(sample),
            "--format",
            "json",
            "--db",
            str(tmp_path / "r.db"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    trades, equity = reference_ema_cross(closes, opens, 10_000.0)
    assert summary["bars"] == rows
    assert summary["trades"] == trades
    assert summary["final_equity"] == pytest.approx(equity, rel=1e-9)
