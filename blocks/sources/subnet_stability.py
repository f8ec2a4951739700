"""The stability rank of a Bittensor subnet: how safe a place its alpha is to stake, as one number in [0, 1).

    stability = E * (V * D * Hv * Ha) ** (1/4)

- ``E``: 1 while the subnet receives emissions, else 0 (staked alpha without emissions earns nothing).
- ``V = 1 / (1 + sigma / 0.05)``: price calm. ``sigma`` is the daily volatility of the alpha price: the population
  standard deviation of the log returns between consecutive bar closes over the last ``window`` returns, each
  scaled to one day by ``sqrt(1 day / its time span)``, so a return across a gap in the data counts as the
  slow move it is, not as one wild bar. Halves at 5% a day (about the median subnet in July-August 2026).
- ``D = pool / (pool + 10,000)``: depth of the TAO side of the pool, in TAO; a deep pool is costly to push
  around and cheap to leave. Halves at 10,000 TAO (the median pool is about 7,000).
- ``Hv = validators / (validators + 10)``, ``Ha = active / (active + 10)``: validators and active neurons,
  the people keeping the subnet alive. Each halves at 10 (the median subnet has about 11).

The geometric mean keeps the score in [0, 1) whatever the number of factors, makes every factor count
equally, and lets any one at zero sink the whole. A typical subnet scores about 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DAY_MS = 86_400_000
SIGMA_HALF = 0.05
POOL_HALF = 10_000.0
PEOPLE_HALF = 10.0


def daily_volatility(times: Sequence[int], closes: Sequence[float], window: int) -> list[float | None]:
    """Per bar, the daily volatility over the ``window`` returns ending at it (None until there are that many).

    Causal: the value at bar i reads bars up to i only. O(1) per bar with running sums."""
    out: list[float | None] = [None] * len(closes)
    scaled: list[float] = []
    total = total_sq = 0.0
    for i in range(1, len(closes)):
        span = times[i] - times[i - 1]
        r = math.log(closes[i] / closes[i - 1]) * math.sqrt(DAY_MS / span)
        scaled.append(r)
        total += r
        total_sq += r * r
        if len(scaled) > window:
            old = scaled[len(scaled) - window - 1]
            total -= old
            total_sq -= old * old
        if len(scaled) >= window:
            mean = total / window
            out[i] = math.sqrt(max(total_sq / window - mean * mean, 0.0))
    return out


def stability(
    sigma: float | None, pool: float, validators: float | None, active: float | None, emission: float
) -> float | None:
    """The stability score of one bar (formula in the module docstring); None while an input is unknown."""
    if sigma is None or validators is None or active is None:
        return None
    if not emission:
        return 0.0
    calm = 1.0 / (1.0 + sigma / SIGMA_HALF)
    depth = max(pool, 0.0) / (max(pool, 0.0) + POOL_HALF)
    staff = (validators / (validators + PEOPLE_HALF)) * (active / (active + PEOPLE_HALF))
    return float((calm * depth * staff) ** 0.25)
