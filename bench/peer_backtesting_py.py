"""Calibration: the same EMA 20/50 cross in backtesting.py, the peer DESIGN.md quotes at 5.3 s whole-process.

Its time here, against 5.3 s, says how this machine compares with the one the budget was set on. It needs
backtesting.py, which the project does not depend on; run it from a separate venv:

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install backtesting
    /usr/bin/time -f "%e s %M KB" /tmp/peer/bin/python bench/peer_backtesting_py.py [CSV]

(default CSV: bench/out/gbm-1000000.csv, made by backtest_throughput.py). It gives the same 10,008 trades as
`runner backtest bots/ema_cross.yaml` on that file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd  # type: ignore[import-not-found]
from backtesting import Backtest, Strategy  # type: ignore[import-not-found]
from backtesting.lib import crossover  # type: ignore[import-not-found]


def ema(values: object, span: int) -> object:
    return pd.Series(values).ewm(span=span, adjust=False).mean()


class EmaCross(Strategy):  # type: ignore[misc]
    def init(self) -> None:
        self.fast = self.I(ema, self.data.Close, 20)
        self.slow = self.I(ema, self.data.Close, 50)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "out" / "gbm-1000000.csv"
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {name.capitalize(): raw[name].values for name in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(raw["timestamp"], unit="ms"),
    )
    # cash large enough that whole units of a ~10,000 price make rounding negligible
    stats = Backtest(frame, EmaCross, cash=10_000_000, commission=0.0002).run()
    print(f"trades {stats['# Trades']}, final equity {stats['Equity Final [$]']:.2f}")


if __name__ == "__main__":
    main()
