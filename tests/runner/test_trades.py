"""Round trips from fills, checked against hand-worked cases."""

from __future__ import annotations

import pytest

from runner.trades import round_trips


def fill(t, side, quantity, price, fee=0.0, pnl=None, cid=None):
    return {
        "client_id": cid or f"o{t}",
        "t": t,
        "symbol": "BTC/USDT",
        "side": side,
        "quantity": quantity,
        "price": price,
        "fee": fee,
        "realized_pnl": pnl,
    }


def test_scaling_in_and_out_is_one_trade_with_weighted_prices() -> None:
    (trade,) = round_trips(
        [
            fill(1, "buy", 1.0, 100.0, fee=0.1),
            fill(2, "buy", 3.0, 120.0, fee=0.3),  # entry (100 + 360) / 4 = 115
            fill(3, "sell", 2.0, 130.0, fee=0.2, pnl=29.6),
            fill(4, "sell", 2.0, 110.0, fee=0.2, pnl=-10.4),  # exit (260 + 220) / 4 = 120
        ],
        reasons={"o4": "stop-loss at 110"},
    )
    assert (trade.side, trade.entry_t, trade.exit_t, trade.fills) == ("long", 1, 4, 4)
    assert trade.entry_price == pytest.approx(115.0)
    assert trade.exit_price == pytest.approx(120.0)
    assert trade.quantity == pytest.approx(4.0)
    assert trade.pnl == pytest.approx(19.2)
    assert trade.fees == pytest.approx(0.8)
    assert trade.exit_reason == "stop-loss at 110"
    assert trade.hold_ms == 3


def test_a_flip_closes_one_trade_and_opens_the_next_at_the_same_price() -> None:
    first, second = round_trips([fill(1, "buy", 1.0, 100.0, fee=1.0), fill(2, "sell", 3.0, 90.0, fee=3.0, pnl=-12.0)])
    assert (first.side, first.exit_t, first.exit_price, first.pnl) == ("long", 2, 90.0, -12.0)
    assert first.fees == pytest.approx(2.0)  # its entry fee and a third of the flipping fill's
    assert (second.side, second.entry_t, second.entry_price, second.quantity) == ("short", 2, 90.0, 2.0)
    assert second.exit_t is None and second.fees == pytest.approx(2.0)


def test_funding_goes_to_the_trade_open_when_it_is_booked() -> None:
    funding = [
        {"t": 0, "symbol": "BTC/USDT", "amount": -5.0},  # before the trade: nobody's
        {"t": 2, "symbol": "BTC/USDT", "amount": -1.5},
        {"t": 3, "symbol": "ETH/USDT", "amount": -9.0},  # another symbol
        {"t": 9, "symbol": "BTC/USDT", "amount": 0.5},  # after the exit
    ]
    (trade,) = round_trips([fill(1, "sell", 1.0, 100.0), fill(5, "buy", 1.0, 95.0, pnl=5.0)], funding)
    assert (trade.side, trade.funding, trade.pnl) == ("short", -1.5, 3.5)


def test_symbols_are_tracked_apart() -> None:
    rows = [fill(1, "buy", 1.0, 10.0), {**fill(2, "sell", 2.0, 50.0), "symbol": "ETH/USDT"}, fill(3, "sell", 1.0, 11.0)]
    trades = round_trips(rows)
    assert [(t.symbol, t.side, t.exit_t) for t in trades] == [("BTC/USDT", "long", 3), ("ETH/USDT", "short", None)]


def test_a_trade_book_kept_fill_by_fill_matches_round_trips_and_keeps_both_reasons() -> None:
    from runner.trades import TradeBook
    from runner.types import Fill, Intent, Order

    rows = [
        fill(1, "buy", 1.0, 100.0, fee=0.1),
        fill(2, "buy", 3.0, 120.0, fee=0.3),
        fill(3, "sell", 2.0, 130.0, fee=0.2, pnl=29.6),
        fill(4, "sell", 5.0, 110.0, fee=0.5, pnl=-10.4),  # flips: 2 close the long, 3 open a short
    ]
    orders = [
        Order(r["client_id"], r["t"], r["symbol"], Intent(r["symbol"], "order", reason=f"why {r['t']}")) for r in rows
    ]
    book = TradeBook()
    book.sent(orders[:1])
    book.settled([Fill(**r) for r in rows[:2]], orders[1:2])  # the second order known only from its cycle
    book.settled([Fill(**r) for r in rows[2:]], orders[2:])
    expected = round_trips(rows, reasons={o.client_id: o.intent.reason for o in orders})
    assert [t.record() for t in book.trades] == [t.record() for t in expected]
    assert [(t.side, t.entry_reason, t.exit_reason) for t in book.trades] == [
        ("long", "why 1", "why 4"),
        ("short", "why 4", ""),
    ]
    assert [t.side for t in book.closed()] == ["long"]
