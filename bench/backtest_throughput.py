"""Whole-process `runner backtest` throughput: a seeded 1M-bar GBM series and real files from shared/data.

Usage: python bench/backtest_throughput.py [--bars N] [--runs K]
Budget (DESIGN.md section 12): 1M one-minute bars of bots/ema_cross.yaml in <= 1.5 s, peak memory < 400 MB,
with every order, fill and the full equity curve recorded. Peers on this machine: backtesting.py 5.3 s,
vectorbt 6.5 s warm, NautilusTrader 36 s, freqtrade 42 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DATA = Path(os.environ.get("RUNNER_DATA_DIR", ROOT.parent / "shared" / "data"))
RUNNER = str(Path(sys.executable).with_name("runner"))
REAL = [
    "candles/binance-usdm/BTCUSDT-1m.csv.gz",
    "candles/binance-usdm/ETHUSDT-1m.csv.gz",
    "candles/binance-usdm/SOLUSDT-1m.csv.gz",
]


def gbm(path: Path, bars: int, seed: int = 42) -> None:
    """Geometric Brownian motion, 1-minute candles from 2020-01-01, 60%/year volatility."""
    rng = random.Random(seed)
    sigma = 0.6 / math.sqrt(365 * 24 * 60)
    price, t = 10_000.0, 1_577_836_800_000
    with path.open("w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for i in range(bars):
            close = price * math.exp(rng.gauss(0, sigma))
            high = max(price, close) * (1 + abs(rng.gauss(0, sigma / 2)))
            low = min(price, close) * (1 - abs(rng.gauss(0, sigma / 2)))
            f.write(f"{t + i * 60_000},{price:.2f},{high:.2f},{low:.2f},{close:.2f},{rng.random() * 10:.3f}\n")
            price = close


def timed_backtest(data: Path, cache: str) -> dict[str, float]:
    """One whole-process backtest: wall time, and the child's peak RSS."""
    env = {**os.environ, "RUNNER_CACHE_DIR": cache}
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        result = subprocess.run(
            [
                RUNNER,
                "backtest",
                str(ROOT / "bots" / "ema_cross.yaml"),
                "--data",
                str(data),
                "--format",
                "json",
                "--db",
                f"{tmp}/bench.db",
            ],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if result.returncode:
        raise SystemExit(result.stderr)
    summary = json.loads(result.stdout)
    return {
        "wall": wall,
        "bars": summary["bars"],
        "trades": summary["trades"],
        "fills": summary["fills"],
        "rss_mb": max(peak, before) / 1024,
        "inner": summary["elapsed_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    synthetic = OUT / f"gbm-{args.bars}.csv"
    if not synthetic.exists():
        gbm(synthetic, args.bars)
    files = [synthetic] + [DATA / rel for rel in REAL if (DATA / rel).exists()]
    print(f"{'data':<22} {'bars':>9} {'trades':>7} {'cold':>7} {'warm':>7} {'bars/s warm':>12} {'peak RSS':>9}")
    print(f"(cold: the file is parsed; warm: its parsed candles are cached; warm is the best of {args.runs})")
    for data in files:
        data.read_bytes()  # in the OS page cache: "cold" is the cost of parsing, not of the disk
        with tempfile.TemporaryDirectory() as cache:
            cold = timed_backtest(data, cache)
            warm = min((timed_backtest(data, cache) for _ in range(args.runs)), key=lambda r: r["wall"])
        print(
            f"{data.name:<22} {warm['bars']:>9,.0f} {warm['trades']:>7,.0f} {cold['wall']:>6.2f}s {warm['wall']:>6.2f}s"
            f" {warm['bars'] / warm['wall']:>12,.0f} {max(cold['rss_mb'], warm['rss_mb']):>7.0f}MB"
        )


if __name__ == "__main__":
    main()
