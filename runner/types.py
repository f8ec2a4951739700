"""Value types shared by the engine and the blocks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from runner.spec import Symbol

__all__ = [
    "Fill",
    "Intent",
    "LedgerEntry",
    "Order",
    "Position",
    "Side",
    "Size",
    "Symbol",
    "Timeframe",
    "Verdict",
    "size_record",
]
Timeframe = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w"]


class Size(BaseModel):
    """How big an order is: exactly one of a fraction of equity, a quote notional, or a base quantity."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    fraction: float | None = Field(None, gt=0, le=1, description="Fraction of equity; 1 is all-in, fees included")
    notional: float | None = Field(None, gt=0, allow_inf_nan=False, description="Quote amount, e.g. 1000 USDC")
    quantity: float | None = Field(None, gt=0, allow_inf_nan=False, description="Base units, e.g. 0.1 BTC")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [n for n in ("fraction", "notional", "quantity") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of fraction, notional or quantity" + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @model_serializer(mode="wrap")
    def _only_the_one_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


@cache
def size_record(size: Size) -> dict[str, float]:
    """A Size as plain data (Sizes are frozen and shared by many intents, so this is computed once each)."""
    return size.model_dump()


Side = Literal["buy", "sell"]


@dataclass(slots=True)
class Intent:
    """What a planner wants, before validation.

    ``kind`` is ``order`` (trade ``size`` in the direction of ``side``), ``target`` (hold a position of
    ``size``: long for buy, short for sell), ``close`` (go flat) or ``cancel`` (withdraw the orders this
    step left open on the symbol in earlier cycles, e.g. quotes about to be replaced). Sizes resolve at fill
    time, so that ``fraction: 1`` buys exactly what the cash affords at the fill price.
    """

    symbol: str
    kind: Literal["order", "target", "close", "cancel"]
    side: Side | None = None
    size: Size | None = None
    order_type: Literal["market", "limit"] = "market"
    price: float | None = None
    post_only: bool = False
    reduce_only: bool = False
    leverage: float = 1.0
    stop_loss: float | None = None
    take_profit: float | None = None
    invalidation: str = ""
    reason: str = ""
    confidence: float | None = None
    step_id: str = ""
    leg: int = 0
    after_previous: bool = False
    """Send only once the previous leg of the same decision has filled; if it fails, this leg is cancelled
    (Permafrost's swap-before-order: never a perp hedge without its spot leg)."""
    requested: Size | None = None
    """The size the planner asked for, once a validator has resized the intent (``size`` is then the new one)."""


@dataclass(slots=True, frozen=True)
class Verdict:
    """A validator's answer for one intent."""

    step_id: str
    action: Literal["approve", "resize", "reject"]
    reason: str = ""
    size: Size | None = None


@dataclass(slots=True)
class Order:
    """An approved intent sent to a venue. ``client_id`` is derived, so a retried cycle reuses it."""

    client_id: str
    t: int
    symbol: str
    intent: Intent
    status: Literal["pending", "open", "filled", "cancelled", "rejected", "not_sent"] = "pending"
    reason: str = ""


@dataclass(slots=True, frozen=True)
class Fill:
    """What the venue reports for an order."""

    client_id: str
    t: int
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    liquidity: Literal["maker", "taker"] = "taker"
    realized_pnl: float | None = None
    """Profit of the part of a position this fill closed, net of its entry and exit fees; None if it closed none."""


@dataclass(slots=True)
class Position:
    """A holding in one symbol: signed quantity (short < 0), average entry price, and for perps the leverage
    it was opened with, the funding it paid (negative: received) and its exit plan."""

    symbol: str
    quantity: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    leverage: float = 1.0
    funding: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None
    invalidation: str = ""
    opened_t: int | None = None


LedgerKind = Literal["trade", "fee", "realized_pnl", "funding", "liquidation_fee", "insurance"]


@dataclass(slots=True, frozen=True)
class LedgerEntry:
    """One movement of the account's cash; the cash is always the opening cash plus the sum of its entries.

    ``trade``: spot bought (negative) or sold; ``realized_pnl``: a perp position closed (in part);
    ``fee``, ``liquidation_fee``; ``funding`` (negative: paid); ``insurance``: a liquidation's loss beyond
    the account's cash, borne by the venue's insurance fund, so cash never stays negative."""

    t: int
    symbol: str
    kind: LedgerKind
    amount: float
    client_id: str = ""
