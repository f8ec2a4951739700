"""Round trips: a run's fills grouped into trades, from flat to flat per symbol.

A fill that flips a position closes the trade in progress with the part that reaches flat and opens the
next one with the rest, at the same price. A trade's PnL is the sum of its closing fills' realized PnL
(net of the entry and exit fees of what they close) plus the funding booked while it was open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from runner.types import Fill, Order

_DUST = 1e-12


@dataclass(slots=True)
class Trade:
    """One round trip. ``exit_t`` is None while the position is still open."""

    symbol: str
    side: Literal["long", "short"]
    entry_t: int
    entry_price: float
    """Quantity-weighted price of the fills that opened or added to the position."""
    quantity: float
    """The largest size held, in base units."""
    entry_id: str
    exit_t: int | None = None
    exit_price: float | None = None
    """Quantity-weighted price of the fills that reduced or closed the position."""
    exit_id: str = ""
    entry_reason: str = ""
    exit_reason: str = ""
    pnl: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    """Funding received (negative: paid) while open; included in ``pnl``."""
    fills: int = 0
    _held: float = 0.0
    _added: float = 0.0
    _reduced: float = 0.0
    _exit_value: float = 0.0

    @property
    def hold_ms(self) -> int | None:
        return None if self.exit_t is None else self.exit_t - self.entry_t

    def record(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "entry_t": self.entry_t,
            "exit_t": self.exit_t,
            "entry_price": self.entry_price,
            "exit_price": self.exit_price,
            "quantity": self.quantity,
            "pnl": self.pnl,
            "fees": self.fees,
            "funding": self.funding,
            "fills": self.fills,
            "entry_reason": self.entry_reason,
            "exit_reason": self.exit_reason,
            "entry_id": self.entry_id,
            "exit_id": self.exit_id,
        }


def round_trips(
    fills: Iterable[Mapping[str, Any]],
    funding: Iterable[Mapping[str, Any]] = (),
    reasons: Mapping[str, str] | None = None,
) -> list[Trade]:
    """Trades from fill rows (as in the ``fills`` table: client_id, t, symbol, side, quantity, price, fee,
    realized_pnl) in the order they happened; ``funding`` rows (t, symbol, amount) are credited to the trade
    open at their time; ``reasons`` maps an order's client id to why it was sent (the entry and exit reasons)."""
    reasons = reasons or {}
    trades: list[Trade] = []
    open_trades: dict[str, Trade] = {}
    payments = sorted(funding, key=lambda row: row["t"])
    paid = 0
    for fill in fills:
        while paid < len(payments) and payments[paid]["t"] <= fill["t"]:
            _credit(open_trades, payments[paid])
            paid += 1
        _apply(fill, open_trades, trades, reasons)
    for payment in payments[paid:]:
        _credit(open_trades, payment)
    return trades


def _credit(open_trades: dict[str, Trade], payment: Mapping[str, Any]) -> None:
    trade = open_trades.get(payment["symbol"])
    if trade is not None:
        trade.funding += payment["amount"]
        trade.pnl += payment["amount"]


def _apply(
    fill: Mapping[str, Any], open_trades: dict[str, Trade], trades: list[Trade], reasons: Mapping[str, str]
) -> None:
    symbol, price, fee = fill["symbol"], fill["price"], fill["fee"]
    signed = fill["quantity"] if fill["side"] == "buy" else -fill["quantity"]
    trade = open_trades.get(symbol)
    if trade is not None:
        closing = min(abs(signed), abs(trade._held)) if (signed > 0) != (trade._held > 0) else 0.0
        if closing > _DUST:
            share = closing / abs(signed)
            trade._reduced += closing
            trade._exit_value += closing * price
            trade.exit_price = trade._exit_value / trade._reduced
            trade.pnl += fill.get("realized_pnl") or 0.0
            trade.fees += fee * share
            trade.fills += 1
            trade._held += closing if signed > 0 else -closing
            if abs(trade._held) <= _DUST * max(1.0, trade.quantity):
                trade.exit_t, trade.exit_id = fill["t"], fill["client_id"]
                trade.exit_reason = reasons.get(fill["client_id"], "")
                del open_trades[symbol]
            signed -= closing if signed > 0 else -closing
            fee -= fee * share
            if abs(signed) <= _DUST:
                return
        else:
            _add(trade, signed, price, fee)
            return
    trade = Trade(symbol, "long" if signed > 0 else "short", fill["t"], price, 0.0, fill["client_id"])
    trade.entry_reason = reasons.get(fill["client_id"], "")
    trades.append(trade)
    open_trades[symbol] = trade
    _add(trade, signed, price, fee)


def _add(trade: Trade, signed: float, price: float, fee: float) -> None:
    size = abs(signed)
    trade.entry_price = (trade.entry_price * trade._added + price * size) / (trade._added + size)
    trade._added += size
    trade._held += signed
    trade.quantity = max(trade.quantity, abs(trade._held))
    trade.fees += fee
    trade.fills += 1


@dataclass
class TradeBook:
    """A running bot's round trips, kept as its fills arrive (by the rules of ``round_trips``, funding aside),
    with the reasons of the orders that opened and closed them; what an LLM prompt shows as recent trades."""

    trades: list[Trade] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    _open: dict[str, Trade] = field(default_factory=dict)

    def sent(self, orders: Iterable[Order]) -> None:
        """Remember why each order was sent, for the trades its fills open or close."""
        for order in orders:
            self.reasons.setdefault(order.client_id, order.intent.reason)

    def settled(self, fills: Iterable[Fill], orders: Iterable[Order]) -> None:
        """Apply a bar's fills; ``orders`` are the cycle's, which include the executor's own exits."""
        self.sent(orders)
        for fill in fills:
            row = {
                "client_id": fill.client_id,
                "t": fill.t,
                "symbol": fill.symbol,
                "side": fill.side,
                "quantity": fill.quantity,
                "price": fill.price,
                "fee": fill.fee,
                "realized_pnl": fill.realized_pnl,
            }
            _apply(row, self._open, self.trades, self.reasons)

    def closed(self) -> list[Trade]:
        """The finished trades, oldest first."""
        return [t for t in self.trades if t.exit_t is not None]
