"""The floor: the EMA 20/50 cross backtest of bots/ema_cross.yaml as one plain Python loop over columns
already in memory, nothing checked or recorded. `runner backtest` should give the same trades and final
equity, and its whole-process time reads against this loop's time on the same machine.

Usage: python bench/plain_loop.py [CSV]   (default: bench/out/gbm-1000000.csv, made by backtest_throughput.py)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def plain_loop(opens: list[float], closes: list[float], fee: float = 0.0002) -> tuple[float, int]:
    """Long all-in on a cross up at the next open, flat on a cross down; returns final equity and trades."""
    a_fast, a_slow = 2 / 21, 2 / 51
    fast = slow = closes[0]
    cash, qty, trades = 10_000.0, 0.0, 0
    above: bool | None = None
    pending = 0
    equity = []
    for i in range(len(closes)):
        if pending:
            price = opens[i]
            if pending > 0:
                qty = cash / (price * (1 + fee))
                cash = 0.0
            else:
                cash += qty * price * (1 - fee)
                qty = 0.0
                trades += 1
            pending = 0
        c = closes[i]
        fast += a_fast * (c - fast)
        slow += a_slow * (c - slow)
        if i >= 49:
            now = fast > slow
            if above is not None and now != above:
                pending = 1 if now and not qty else (-1 if not now and qty else 0)
            above = now
        equity.append(cash + qty * c)
    return equity[-1], trades


def main() -> None:
    import pyarrow.csv as pacsv

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "out" / "gbm-1000000.csv"
    table = pacsv.read_csv(path)
    opens, closes = table.column("open").to_pylist(), table.column("close").to_pylist()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        final, trades = plain_loop(opens, closes)
        best = min(best, time.perf_counter() - start)
    print(f"plain loop: {len(closes):,} bars in {best:.2f} s ({trades} trades, final equity {final:.2f})")


if __name__ == "__main__":
    main()
