"""Whole-process `runner sweep`: 27 combinations of bots/ema_cross.yaml over one year of real 1h BTC candles.

Usage: python bench/sweep_throughput.py [--workers N] [--runs K]
Budget (issue 4): < 30 s on the 2-core machine. Each combination is a recorded backtest run with its own
deployment and snapshot; the grid varies both EMA periods and the candle timeframe (1h, 4h, 1d resampled
from the same file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("RUNNER_DATA_DIR", ROOT.parent / "shared" / "data"))
RUNNER = str(Path(sys.executable).with_name("runner"))
CANDLES = DATA / "candles" / "binance-spot" / "BTCUSDT-1h.csv.gz"
GRID = ["ema_fast.period=10,20,30", "ema_slow.period=50,100,200", "candles.timeframe=1h,4h,1d"]


def sweep(workers: int, db: str) -> tuple[float, dict[str, object]]:
    command = [RUNNER, "sweep", str(ROOT / "bots" / "ema_cross.yaml"), "--data", str(CANDLES)]
    command += ["--from", "2025-01-01", "--to", "2025-12-31T23:00", "--workers", str(workers), "--format", "json"]
    for axis in GRID:
        command += ["--grid", axis]
    start = time.perf_counter()
    done = subprocess.run([*command, "--db", db], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    return wall, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not CANDLES.exists():
        raise SystemExit(f"{CANDLES} not found (set RUNNER_DATA_DIR)")
    print("combinations  workers   best wall   best by sharpe")
    for workers in sorted({1, args.workers}):
        walls = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                wall, result = sweep(workers, f"{tmp}/bench.db")
            walls.append(wall)
        runs = result["runs"]
        assert isinstance(runs, list)
        best = runs[0]
        print(f"{len(runs):>12}  {workers:>7}  {min(walls):>9.2f}s   {best['params']} {best['sharpe']:.2f}")


if __name__ == "__main__":
    main()
