"""Cross-margin arithmetic for linear perpetuals, as pure functions (tests check them by hand).

With every other position held at its mark, the account's margin equity is linear in the price ``p`` of
one symbol holding ``q`` at ``avg``:  equity(p) = A + q * p  with  A = cash + others' unrealised PnL - q * avg;
and its maintenance requirement is  B + m * |q| * p  with  B = others' requirements.
The account is liquidated when equity(p) <= requirement(p).
"""

from __future__ import annotations


def liquidation_price(
    q: float, avg: float, cash: float, others_pnl: float, others_mm: float, mm: float
) -> float | None:
    """The price of this symbol at which the account reaches its maintenance margin; None if it never does
    (no position, or a long whose margin covers a fall to zero)."""
    if q == 0:
        return None
    a = cash + others_pnl - q * avg
    b = others_mm
    if q > 0:
        price = (b - a) / (q * (1 - mm))  # A + q p = B + m q p
        return price if price > 0 else None
    return (b - a) / (q * (1 + mm))  # A + q p = B - m q p, with q < 0


def initial_margin(quantity: float, price: float, leverage: float) -> float:
    return abs(quantity) * price / max(leverage, 1.0)
