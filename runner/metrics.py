"""Performance metrics with one definition everywhere; units are stated in the names.

Returns are per cycle; Sharpe and Sortino are annualised by the cycle's sampling frequency
(sqrt of cycles per 365-day year), with no risk-free rate. A trade is a fill that closes (part of) a
position; its PnL is net of the entry and exit fees of the part it closes.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from itertools import pairwise
from statistics import median
from typing import Any

YEAR_MS = 365 * 24 * 3600 * 1000


def summarize(
    times: Sequence[int], equity: Sequence[float], start_equity: float, trade_pnls: Sequence[float], fees: float
) -> dict[str, Any]:
    """The standard summary of a run from its equity curve and closed-trade PnLs."""
    final = equity[-1] if len(equity) else start_equity
    out: dict[str, Any] = {
        "cycles": len(equity),
        "final_equity": final,
        "return_pct": (final / start_equity - 1) * 100 if start_equity else 0.0,
        "fees": fees,
        **curve_stats(times, equity, start_equity),
        **trade_stats(trade_pnls),
    }
    return out


def curve_stats(times: Sequence[int], equity: Sequence[float], start_equity: float) -> dict[str, float]:
    """Max drawdown (% from the running peak), and Sharpe/Sortino annualised by sampling frequency."""
    if len(equity) < 2:
        return {"max_drawdown_pct": 0.0, "sharpe": 0.0, "sortino": 0.0}
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(equity, array) and equity.typecode == "d":  # a backtest's curve: no copy
        values = pa.Array.from_buffers(pa.float64(), len(equity), [None, pa.py_buffer(equity)])
    else:
        values = pa.array(equity, pa.float64())
    peak = pc.max_element_wise(pc.cumulative_max(values), pa.scalar(start_equity))
    drawdown = pc.max(pc.divide(pc.subtract(peak, values), peak)).as_py() or 0.0
    previous = values.slice(0, len(values) - 1)
    returns = pc.divide(pc.subtract(values.slice(1), previous), previous)
    mean = pc.mean(returns).as_py() or 0.0
    std = pc.stddev(returns, ddof=1).as_py() or 0.0
    downside = math.sqrt(pc.mean(pc.power(pc.min_element_wise(returns, 0.0), 2)).as_py() or 0.0)
    step = median(b - a for a, b in pairwise(times[:1001])) if len(times) > 1 else 0
    scale = math.sqrt(YEAR_MS / step) if step > 0 else 0.0
    return {
        "max_drawdown_pct": drawdown * 100,
        "sharpe": mean / std * scale if std > 0 else 0.0,
        "sortino": mean / downside * scale if downside > 0 else 0.0,
    }


def trade_stats(pnls: Sequence[float]) -> dict[str, float]:
    """Win rate (%), profit factor (gross wins / gross losses; inf with no losses), and trade count."""
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p <= 0]
    gross_loss = sum(losses)
    return {
        "trades": len(pnls),
        "win_rate_pct": len(wins) / len(pnls) * 100 if pnls else 0.0,
        "profit_factor": (sum(wins) / gross_loss if gross_loss > 0 else (math.inf if wins else 0.0)),
    }
