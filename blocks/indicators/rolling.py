"""Rolling-window sums shared by the indicators: O(1) amortised per value, rounding bounded per window."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable


def rolling_mean(n: int) -> Callable[[float], float | None]:
    """A push function: takes the next value, returns the mean of the last ``n`` (None until ``n`` are in).

    The sum is kept around an anchor near the data and recomputed exactly (``math.fsum``) once every ``n``
    values: O(1) amortised, and the rounding of the incremental updates never outlives one window. A window
    of ``n`` equal values has exactly that value as its mean."""
    window: deque[float] = deque()
    anchor = total = 0.0
    since_exact = 0
    run, last = 0, math.nan

    def push(x: float) -> float | None:
        nonlocal anchor, total, since_exact, run, last
        run = run + 1 if x == last else 1
        last = x
        window.append(x)
        total += x - anchor
        if len(window) > n:
            total -= window.popleft() - anchor
        since_exact += 1
        if since_exact >= n:
            anchor = math.fsum(window) / len(window)
            total = math.fsum([v - anchor for v in window])
            since_exact = 0
        if len(window) < n:
            return None
        return x if run >= n else anchor + total / n

    return push


def rolling_moments(n: int) -> Callable[[float], tuple[float, float] | None]:
    """A push function: takes the next value, returns the mean and the population variance (ddof 0) of the
    last ``n`` values (None until ``n`` are in). A window of ``n`` equal values has variance exactly 0.

    Sums of deviations from an anchor and of their squares, recomputed exactly once every ``n`` values as
    in ``rolling_mean``, and also whenever the variance is under 1/1000 of the mean square deviation from
    the anchor: then the incremental difference would have cancelled too many digits (rare on prices; the
    recomputation re-centres the anchor, so it does not repeat bar after bar)."""
    window: deque[float] = deque()
    anchor = total = squares = 0.0
    since_exact = 0
    run, last = 0, math.nan

    def resum() -> None:
        nonlocal anchor, total, squares, since_exact
        anchor = math.fsum(window) / len(window)
        deviations = [v - anchor for v in window]
        total, squares = math.fsum(deviations), math.fsum([v * v for v in deviations])
        since_exact = 0

    def push(x: float) -> tuple[float, float] | None:
        nonlocal total, squares, since_exact, run, last
        run = run + 1 if x == last else 1
        last = x
        window.append(x)
        d = x - anchor
        total += d
        squares += d * d
        if len(window) > n:
            old = window.popleft() - anchor
            total -= old
            squares -= old * old
        since_exact += 1
        if since_exact >= n:
            resum()
        if len(window) < n:
            return None
        if run >= n:
            return x, 0.0  # a constant window: no spread at all, not a rounding residue
        offset = total / n
        spread = squares / n
        variance = spread - offset * offset
        if variance * 1000.0 < spread:
            resum()
            offset = total / n
            variance = squares / n - offset * offset
        return anchor + offset, variance if variance > 0.0 else 0.0

    return push
