"""Performance metrics with one definition everywhere; units are stated in the names.

- Returns are per cycle. Sharpe and Sortino are annualised by the curve's sampling frequency: the mean over
  the standard deviation (downside deviation for Sortino) of cycle returns, times sqrt(cycles per 365-day
  year), with no risk-free rate.
- The annualised return compounds the total return over the run's span (first to last cycle plus one cycle)
  in 365-day years; Calmar is the annualised return over the max drawdown, both in percent.
- Max drawdown is the largest fall from the running peak (the starting equity counts as a peak), in percent;
  its duration is the longest time spent below a previous peak, in days, open-ended at the run's end.
- A trade is a fill that closes (part of) a position; its PnL is net of the entry and exit fees of the part
  it closes. Expectancy is the mean PnL per trade; the average loss is negative.
- Exposure is the share of the run's span during which any position was open, in percent.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from itertools import pairwise
from statistics import median
from typing import Any

YEAR_MS = 365 * 24 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
_DUST = 1e-12


def summarize(
    times: Sequence[int],
    equity: Sequence[float],
    start_equity: float,
    trade_pnls: Sequence[float],
    fees: float,
    exposure_pct: float = 0.0,
) -> dict[str, Any]:
    """The standard summary of a run from its equity curve and closed-trade PnLs."""
    final = equity[-1] if len(equity) else start_equity
    curve = curve_stats(times, equity, start_equity)
    annual = annual_return_pct(start_equity, final, span_ms(times))
    return {
        "cycles": len(equity),
        "final_equity": final,
        "return_pct": (final / start_equity - 1) * 100 if start_equity else 0.0,
        "annual_return_pct": annual,
        "calmar": annual / curve["max_drawdown_pct"] if curve["max_drawdown_pct"] > 0 else 0.0,
        "fees": fees,
        "exposure_pct": exposure_pct,
        **curve,
        **trade_stats(trade_pnls),
    }


def span_ms(times: Sequence[int]) -> int:
    """The time a curve covers: first to last point, plus one sampling step (the last cycle's own bar)."""
    if len(times) < 2:
        return 0
    return times[-1] - times[0] + _step(times)


def _step(times: Sequence[int]) -> int:
    return int(median(b - a for a, b in pairwise(times[:1001]))) if len(times) > 1 else 0


def annual_return_pct(start_equity: float, final_equity: float, span: int) -> float:
    """Compound annual growth in percent; -100 once the account is wiped out, 0 for an empty span."""
    if span <= 0 or start_equity <= 0:
        return 0.0
    if final_equity <= 0:
        return -100.0
    try:
        return float(((final_equity / start_equity) ** (YEAR_MS / span) - 1) * 100)
    except OverflowError:
        return math.inf


def curve_stats(times: Sequence[int], equity: Sequence[float], start_equity: float) -> dict[str, float]:
    """Max drawdown (% from the running peak) and its duration (days), Sharpe and Sortino annualised by
    sampling frequency."""
    if len(equity) < 2:
        return {"max_drawdown_pct": 0.0, "max_drawdown_duration_days": 0.0, "sharpe": 0.0, "sortino": 0.0}
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _arrow(equity, pa.float64())
    peak = pc.max_element_wise(pc.cumulative_max(values), pa.scalar(start_equity))
    drawdown = pc.max(pc.divide(pc.subtract(peak, values), peak)).as_py() or 0.0
    previous = values.slice(0, len(values) - 1)
    returns = pc.divide(pc.subtract(values.slice(1), previous), previous)
    mean = pc.mean(returns).as_py() or 0.0
    std = pc.stddev(returns, ddof=1).as_py() or 0.0
    downside = math.sqrt(pc.mean(pc.power(pc.min_element_wise(returns, 0.0), 2)).as_py() or 0.0)
    step = _step(times)
    scale = math.sqrt(YEAR_MS / step) if step > 0 else 0.0
    # An underwater stretch runs from the last cycle at the peak (or the start) to the cycle that regains
    # it (or the end): between consecutive at-peak cycles that are not neighbours.
    n = len(values)
    highs = pa.concat_arrays(
        [
            pa.array([-1], pa.int64()),
            pc.indices_nonzero(pc.greater_equal(values, peak)).cast(pa.int64()),
            pa.array([n], pa.int64()),
        ]
    )
    before, after = highs.slice(0, len(highs) - 1), highs.slice(1)
    gaps = pc.greater(pc.subtract(after, before), 1)
    stamps = _arrow(times, pa.int64())
    since = pc.take(stamps, pc.max_element_wise(pc.filter(before, gaps), 0))
    until = pc.take(stamps, pc.min_element_wise(pc.filter(after, gaps), n - 1))
    longest = pc.max(pc.subtract(until, since)).as_py() or 0 if len(since) else 0
    return {
        "max_drawdown_pct": drawdown * 100,
        "max_drawdown_duration_days": longest / DAY_MS,
        "sharpe": mean / std * scale if std > 0 else 0.0,
        "sortino": mean / downside * scale if downside > 0 else 0.0,
    }


def _arrow(values: Sequence[Any], kind: Any) -> Any:
    import pyarrow as pa

    code = "d" if kind == pa.float64() else "q"
    if isinstance(values, array) and values.typecode == code:  # a backtest's curve: no copy
        return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])
    return pa.array(values, kind)


def trade_stats(pnls: Sequence[float]) -> dict[str, float]:
    """Trade count, win rate (%), profit factor (gross wins / gross losses; inf with no losses), average win,
    average loss (negative) and expectancy (mean PnL per trade). A trade of PnL 0 counts as a loss."""
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p <= 0]
    gross_loss = -sum(losses)
    return {
        "trades": len(pnls),
        "win_rate_pct": len(wins) / len(pnls) * 100 if pnls else 0.0,
        "profit_factor": (sum(wins) / gross_loss if gross_loss > 0 else (math.inf if wins else 0.0)),
        "avg_win": sum(wins) / len(wins) if wins else 0.0,
        "avg_loss": sum(losses) / len(losses) if losses else 0.0,
        "expectancy": sum(pnls) / len(pnls) if pnls else 0.0,
    }


def exposure_pct(fills: Iterable[tuple[int, str, float]], start: int, end: int) -> float:
    """Percent of [start, end) with any position open, from fills as (time, symbol, signed quantity) in time
    order; a position opens and closes at its fills' times."""
    if end <= start:
        return 0.0
    held: dict[str, float] = {}
    size: dict[str, float] = {}
    opened_at: int | None = None
    exposed = 0
    for t, symbol, quantity in fills:
        was_open = opened_at is not None
        after = held.get(symbol, 0.0) + quantity
        size[symbol] = max(size.get(symbol, 0.0), abs(after))
        if abs(after) <= _DUST * max(1.0, size[symbol]):
            held.pop(symbol, None)
            size.pop(symbol, None)
        else:
            held[symbol] = after
        if not was_open and held:
            opened_at = max(t, start)
        elif was_open and not held:
            assert opened_at is not None
            exposed += max(min(t, end) - opened_at, 0)
            opened_at = None
    if opened_at is not None:
        exposed += max(end - opened_at, 0)
    return exposed / (end - start) * 100
