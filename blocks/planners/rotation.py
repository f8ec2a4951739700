"""Rotation: move a book of at most N symbols toward a target set, with intents that rest on real fills.

Shared by the top-K planners. What is held is read from the account each cycle, never assumed: a symbol
counts as held once its buy has filled, and as gone once its sale has (Permafrost's alpha_momentum booked
holdings before any fill; this does not). Exits are market closes, which sell exactly what is held.
An entry only takes a free slot: held symbols, those being sold included, and buys on their way occupy
one, so the book never holds more than ``slots`` symbols, and a slot freed by a sale is refilled once the
sale has filled. Entries are market buys of a fixed quote ``amount``, or, without one, equal weights: each
gets at most 1/slots of equity, and together no more than the cash on hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from runner.block import Account
from runner.types import Intent, Size


class Rotation:
    """The target set of a top-K planner and the buys and sales on their way to it."""

    def __init__(self, slots: int, amount: float | None) -> None:
        self.slots = slots
        self.amount = amount
        self.target: list[str] = []
        """Symbols to hold, best first."""
        self._buying: dict[str, int] = {}
        """Buys on their way: symbol -> the cycle (count of ``intents`` calls) that sent it."""
        self._selling: set[str] = set()
        self._cycle = 0

    def retarget(self, target: Iterable[str]) -> None:
        """A new target set, best first. A buy sent in the previous cycle still counts as on its way (its
        symbol may not have had a bar yet); an older one that has not filled was cancelled, and is forgotten."""
        self.target = list(target)
        self._buying = {s: n for s, n in self._buying.items() if n >= self._cycle}

    def drop(self, symbol: str) -> None:
        """Stop aiming for ``symbol`` until the next retarget."""
        if symbol in self.target:
            self.target.remove(symbol)

    @staticmethod
    def held(account: Account, universe: Iterable[str]) -> set[str]:
        """The symbols of ``universe`` the account holds (long) now."""
        positions = account.positions
        return {s for s in universe if (p := positions.get(s)) is not None and p.quantity > 0}

    def intents(self, account: Account, held: set[str], reasons: Mapping[str, str]) -> list[Intent]:
        """Sales of held symbols outside the target, then buys of target symbols into the free slots; call it
        every cycle."""
        self._cycle += 1
        self._buying = {s: n for s, n in self._buying.items() if s not in held}
        self._selling &= held
        intents = []
        for symbol in sorted(held - set(self.target) - self._selling):
            intents.append(Intent(symbol, "close", reason=reasons.get(symbol, "not in the target")))
            self._selling.add(symbol)
        free = self.slots - len(held | self._buying.keys())
        entries = [s for s in self.target if s not in held and s not in self._buying][: max(free, 0)]
        if not entries:
            return intents
        if self.amount is not None:
            size = Size(notional=self.amount)
        else:
            equity = account.equity
            if equity <= 0 or account.cash <= 0:
                return intents
            size = Size(fraction=min(1 / self.slots, account.cash / len(entries) / equity))
        for symbol in entries:
            intents.append(Intent(symbol, "order", "buy", size, reason=reasons.get(symbol, "in the target")))
            self._buying[symbol] = self._cycle
        return intents
