"""executor.paper driven directly, bar by bar, against numbers computed by hand."""

from __future__ import annotations

import csv
import gzip
import json
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from conftest import compile_yaml, data_path
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runner.block import Account, Executor
from runner.cycle import BuildContext, Cycle, Pipeline, client_id
from runner.types import Fill, Intent, Order, Size

SPOT = "BTC/USDT"
PERP = "BTC/USDC:USDC"
MINUTE = 60_000


@dataclass
class Desk:
    """A paper executor of a compiled bot, started without opening any data, and a clock of one-minute bars."""

    symbol: str
    executor: Executor
    lane: list[Any]
    slots: tuple[int, int, int, int]
    t: int = 0
    fills: list[Fill] = field(default_factory=list)
    legs: int = 0
    step: int = MINUTE
    cycles: list[Cycle] = field(default_factory=list)
    volume_slot: int = -1

    def cycle(self) -> Cycle:
        return Cycle(self.t, {self.symbol: self.lane}, account=self.executor.account)

    def bar(
        self, o: float, h: float | None = None, lo: float | None = None, c: float | None = None, volume: float = 0.0
    ) -> list[Fill]:
        """The next bar; high, low and close default to the extremes of open and close (close to open)."""
        c = o if c is None else c
        h = max(o, c) if h is None else h
        lo = min(o, c) if lo is None else lo
        assert lo <= min(o, c) and h >= max(o, c)
        self.t += self.step
        for slot, value in zip(self.slots, (o, h, lo, c), strict=True):
            self.lane[slot] = value
        self.lane[self.volume_slot] = volume
        cycle = self.cycle()
        fills = self.executor.on_bar(self.symbol, self.lane, cycle)
        self.fills.extend(fills)
        self.cycles.append(cycle)
        return fills

    def submit(self, intent: Intent, cid: str | None = None) -> Order:
        """An order decided at the close of the current bar; it fills no earlier than the next one."""
        if cid is None:
            cid = client_id("test", self.t, "plan", self.legs)
            self.legs += 1
        order = Order(cid, self.t, intent.symbol, intent)
        self.executor.submit(order, self.cycle())
        return order

    def account(self) -> Account:
        return self.executor.account()

    def quantity(self) -> float:
        position = self.account().positions.get(self.symbol)
        return 0.0 if position is None else float(position.quantity)


def desk(
    symbol: str = SPOT,
    cash: float = 10_000,
    start: float = 100.0,
    funding: str | None = None,
    timeframe: str = "1m",
    **config: float,
) -> Desk:
    """A started paper executor for ``symbol`` with ``config`` (fee_bps, slippage_bps, maker_fee_bps), one bar in;
    ``funding``: the symbol's funding history file."""
    quote = symbol.split(":")[1] if ":" in symbol else symbol.split("/")[1]
    bot = compile_yaml(
        f"""
        bot: paper_test
        version: 1.0.0
        account: {{cash: {cash}, quote: {quote}}}
        symbols: [{symbol}]
        pipeline:
          - id: candles
            uses: source.candles
            with: {{timeframe: {timeframe}, history: 0}}
          - id: plan
            uses: planner.noop
          - id: exec
            uses: executor.paper
            with: {json.dumps(config)}
        """
    )
    pipeline = Pipeline(bot, BuildContext(bot))  # never open(): that would load candle files
    ctx = pipeline.ctx
    if funding is not None:
        ctx.funding[symbol] = funding
    pipeline.executor.start(ctx)
    d = Desk(symbol, pipeline.executor, [None] * len(ctx.slots), ctx.price_slots())
    d.volume_slot = ctx.slots[("candles", "volume")]
    d.bar(start)
    return d


def buy(symbol: str = SPOT, kind: str = "order", **size: float) -> Intent:
    return Intent(symbol, kind, "buy", Size(**size))  # type: ignore[arg-type]


def sell(symbol: str = SPOT, kind: str = "order", **size: float) -> Intent:
    return Intent(symbol, kind, "sell", Size(**size))  # type: ignore[arg-type]


def close(symbol: str = SPOT) -> Intent:
    return Intent(symbol, "close")


approx = pytest.approx


# --- spot all-in and out ------------------------------------------------------------------------------

ALL_IN = [
    pytest.param(
        dict(cash=10_000, fee_bps=2, entry=100.0, mark=105.0, exit=110.0),
        dict(
            # q = 10000 / (100 * (1 + 0.0002)) = 99.98000399920016
            quantity=99.98000399920016,
            # fee = q * 100 * 0.0002 (cash = 10000 - q*100 - fee = 0)
            entry_fee=1.9996000799840032,
            # equity = q * 105
            equity=10497.900419916017,
            # exit fee = q * 110 * 0.0002
            exit_fee=2.1995600879824035,
            # cash = q * 110 * (1 - 0.0002)
            cash=10995.600879824036,
            # net = q * (110 - 100) - 1.99960008 - 2.19956009 = 999.80004 - 4.19916017
            net=995.6008798240352,
        ),
        id="2bps-up",
    ),
    pytest.param(
        dict(cash=1_000, fee_bps=10, entry=50_000.0, mark=49_000.0, exit=48_000.0),
        dict(
            # q = 1000 / (50000 * 1.001) = 0.01998001998...
            quantity=0.019980019980019983,
            # fee = q * 50000 * 0.001 = 1000 * 0.001 / 1.001
            entry_fee=0.9990009990009991,
            # equity = q * 49000
            equity=979.0209790209792,
            # exit fee = q * 48000 * 0.001
            exit_fee=0.9590409590409593,
            # cash = q * 48000 * 0.999
            cash=958.0819180819183,
            # net = q * (48000 - 50000) - 0.999001 - 0.959041 = -39.96004 - 1.958042
            net=-41.918081918081924,
        ),
        id="10bps-down",
    ),
]


@pytest.mark.parametrize(("setup", "want"), ALL_IN)
def test_spot_all_in_then_close(setup: dict[str, float], want: dict[str, float]) -> None:
    d = desk(cash=setup["cash"], start=setup["entry"], fee_bps=setup["fee_bps"], slippage_bps=0)
    order = d.submit(buy(kind="target", fraction=1))
    assert d.executor.has_open_orders()
    (entry,) = d.bar(setup["entry"], c=setup["mark"])
    assert (order.status, order.reason) == ("filled", "")
    assert (entry.side, entry.price, entry.liquidity, entry.realized_pnl) == ("buy", setup["entry"], "taker", None)
    assert entry.quantity == approx(want["quantity"], rel=1e-12)
    assert entry.fee == approx(want["entry_fee"], rel=1e-12)
    account = d.account()
    assert abs(account.cash) < 1e-12 * setup["cash"]  # spent: ~0, never below
    assert account.equity == approx(want["equity"], rel=1e-12)
    assert account.fees == approx(want["entry_fee"], rel=1e-12)
    assert not d.executor.has_open_orders()

    d.submit(close())
    (exit_,) = d.bar(setup["exit"])
    assert (exit_.side, exit_.price) == ("sell", setup["exit"])
    assert exit_.quantity == entry.quantity  # everything that was bought
    assert exit_.fee == approx(want["exit_fee"], rel=1e-12)
    assert exit_.realized_pnl == approx(want["net"], rel=1e-12)
    account = d.account()
    assert d.quantity() == 0.0
    assert account.cash == approx(want["cash"], rel=1e-12)
    assert account.equity == account.cash
    assert account.cash - setup["cash"] == approx(want["net"], rel=1e-9)  # the net PnL is all of it
    assert account.fees == approx(want["entry_fee"] + want["exit_fee"], rel=1e-12)


def test_spot_all_in_never_leaves_negative_cash() -> None:
    # q = 1000 / (50000 * 1.001); cash = 1000 - q * 50000 - q * 50000 * 0.001 comes out -2.27e-13, because
    # _affordable lets cost exceed cash by 1e-12 relative and _apply subtracts price and fee separately.
    d = desk(cash=1_000, start=50_000.0, fee_bps=10, slippage_bps=0)
    d.submit(buy(kind="target", fraction=1))
    d.bar(50_000.0)
    assert d.account().cash >= 0.0


def test_orders_fill_only_on_a_later_bar() -> None:
    d = desk(fee_bps=0, slippage_bps=0)
    order = d.submit(buy(quantity=1))
    # The same bar time again (a second source writing the same close time) must not fill it.
    assert d.executor.on_bar(d.symbol, d.lane, d.cycle()) == []
    assert order.status == "open" and d.executor.has_open_orders()
    assert len(d.bar(101.0)) == 1


def test_entry_delay_holds_an_order_back_whole_bars() -> None:
    d = desk(fee_bps=0, slippage_bps=0, entry_delay=2)
    order = d.submit(buy(quantity=1))
    assert d.bar(101.0) == [] and d.bar(102.0) == []  # two bars held back
    assert order.status == "open"
    (fill,) = d.bar(103.0)  # decided at the close of bar t, filled at the open of bar t+3
    assert fill.price == 103.0


def test_entry_delay_never_delays_an_exit_plan() -> None:
    d = desk(PERP, fee_bps=0, slippage_bps=0, entry_delay=1)
    d.submit(Intent(PERP, "order", "buy", Size(quantity=1), stop_loss=95.0))
    d.bar(100.0)
    (fill,) = d.bar(100.0)
    assert fill.side == "buy"
    (stop,) = d.bar(97.0, lo=94.0)  # the stop is met inside the very next bar
    assert (stop.side, stop.price) == ("sell", 95.0)


def test_cancel_all_also_drops_held_back_orders() -> None:
    d = desk(fee_bps=0, slippage_bps=0, entry_delay=3)
    order = d.submit(buy(quantity=1))
    d.executor.cancel_all(d.cycle())
    assert order.status == "cancelled" and not d.executor.has_open_orders()
    assert d.bar(101.0) == [] and d.bar(101.0) == [] and d.bar(101.0) == [] and d.bar(101.0) == []


# --- slippage -----------------------------------------------------------------------------------------

SLIPPAGE = [
    # buy 2 at open 100 + 10 bps = 100.1; fee 0: cash 10000 - 200.2 = 9799.8
    pytest.param(dict(slippage_bps=10, fee_bps=0), buy(quantity=2), 100.1, 2.0, 9799.8, id="buy-10bps"),
    # buy 2 at 100 * (1 + 0.0025) = 100.25; fee 2 bps = 2 * 100.25 * 0.0002 = 0.0401; cash 10000 - 200.5 - 0.0401
    pytest.param(dict(slippage_bps=25, fee_bps=2), buy(quantity=2), 100.25, 2.0, 9799.4599, id="buy-25bps-fee"),
    # all-in at 100.1: q = 10000 / (100.1 * 1.0002) = 99.88012387532484, cash 0
    pytest.param(
        dict(slippage_bps=10, fee_bps=2), buy(kind="target", fraction=1), 100.1, 99.88012387532484, 0.0, id="all-in"
    ),
    # notional 1000 at 100.1: q = 1000 / 100.1 = 9.99000999000999; cash 10000 - 1000
    pytest.param(dict(slippage_bps=10, fee_bps=0), buy(notional=1000), 100.1, 9.99000999000999, 9000.0, id="notional"),
]


@pytest.mark.parametrize(("config", "intent", "price", "quantity", "cash"), SLIPPAGE)
def test_market_slippage_is_adverse(
    config: dict[str, float], intent: Intent, price: float, quantity: float, cash: float
) -> None:
    d = desk(fee_bps=config["fee_bps"], slippage_bps=config["slippage_bps"])
    d.submit(intent)
    (fill,) = d.bar(100.0)
    assert fill.price == approx(price, rel=1e-12)
    assert fill.quantity == approx(quantity, rel=1e-12)
    assert d.account().cash == approx(cash, rel=1e-12, abs=1e-9)
    # Selling it all back at open 100 fills below the open: 100 * (1 - slip).
    d.submit(close())
    (back,) = d.bar(100.0)
    assert back.side == "sell"
    assert back.price == approx(100.0 * (1 - config["slippage_bps"] / 10_000), rel=1e-12)
    assert back.price < 100.0 < fill.price


def test_market_impact_grows_with_the_square_root_of_the_share_of_volume() -> None:
    d = desk(fee_bps=0, slippage_bps=0, slippage_impact=0.01)
    d.submit(buy(quantity=4))
    (fill,) = d.bar(100.0, volume=400.0)  # 0.01 * sqrt(4 / 400) = 0.1%
    assert fill.price == pytest.approx(100.1)
    d.submit(Intent(SPOT, "close"))
    (fill,) = d.bar(100.0, volume=16.0)  # 0.01 * sqrt(4 / 16) = 0.5%, against the seller
    assert fill.price == pytest.approx(99.5)
    d.submit(buy(quantity=4))
    (fill,) = d.bar(100.0, volume=0.0)  # no volume reported: no impact model to apply
    assert fill.price == 100.0


def test_slippage_stays_adverse_when_a_target_changes_direction() -> None:
    # Spot, fee 0, slippage 10 bps, cash 10007.5; buy 50 at 100 * 1.001 = 100.1: cash 5002.5, 50 held.
    # target buy fraction 0.5 at open 100: equity 5002.5 + 50 * 100 = 10002.5, half is 50.0125 units, so
    # +0.0125: a buy, slipped up to 100.1. Re-sized at 100.1 the target is 0.5 * (5002.5 + 5005) / 100.1 =
    # 49.9875 units, a SELL of 0.0125 -- which paper.py fills at 100.1, above the open (favourable).
    d = desk(cash=10_007.5, fee_bps=0, slippage_bps=10)
    d.submit(buy(quantity=50))
    d.bar(100.0)
    d.submit(buy(kind="target", fraction=0.5))
    fills = d.bar(100.0)
    assert all(f.price < 100.0 for f in fills if f.side == "sell")
    assert all(f.price > 100.0 for f in fills if f.side == "buy")


def test_limit_orders_take_no_slippage() -> None:
    d = desk(slippage_bps=50, fee_bps=0)
    d.submit(Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit", price=99.0))
    (fill,) = d.bar(100.0, lo=98.0)
    assert fill.price == 99.0


# --- spot cannot go short, and cash bounds a buy --------------------------------------------------------

SPOT_LIMITS = [
    # (holding, intent, status, reason, filled quantity)
    pytest.param(0.0, sell(quantity=1), "rejected", "spot cannot be sold short", None, id="sell-nothing"),
    pytest.param(
        0.0, sell(kind="target", quantity=1), "rejected", "spot cannot be sold short", None, id="target-short"
    ),
    pytest.param(0.0, sell(notional=50), "rejected", "spot cannot be sold short", None, id="sell-notional"),
    pytest.param(0.0, close(), "cancelled", "nothing to trade", None, id="close-flat"),
    # holding 1, selling 3: only the 1 held is sold
    pytest.param(1.0, sell(quantity=3), "filled", "", 1.0, id="sell-more-than-held"),
    # holding 1, target short 2: sell the 1 held, go flat, never below 0
    pytest.param(1.0, sell(kind="target", quantity=2), "filled", "", 1.0, id="target-short-held"),
    # cash 10000 (less the 1 held: 10000 - 100 - 0.02 = 9899.98); buy 200 at 100 costs 20004 > cash
    # fit = 9899.98 / (100 * 1.0002) = 98.98000399920016
    pytest.param(
        1.0, buy(quantity=200), "filled", "cut to the cash available", 98.98000399920016, id="buy-cut-quantity"
    ),
    pytest.param(
        1.0, buy(notional=20_000), "filled", "cut to the cash available", 98.98000399920016, id="buy-cut-notional"
    ),
]


@pytest.mark.parametrize(("holding", "intent", "status", "reason", "filled"), SPOT_LIMITS)
def test_spot_limits(holding: float, intent: Intent, status: str, reason: str, filled: float | None) -> None:
    d = desk(fee_bps=2, slippage_bps=0)
    if holding:
        d.submit(buy(quantity=holding))
        d.bar(100.0)
    order = d.submit(intent)
    fills = d.bar(100.0)
    assert (order.status, order.reason) == (status, reason)
    assert not d.executor.has_open_orders()
    if filled is None:
        assert fills == []
    else:
        (fill,) = fills
        assert fill.quantity == approx(filled, rel=1e-12)
    assert d.quantity() >= 0.0
    assert d.account().cash >= 0.0


def test_spot_buy_without_cash_is_rejected() -> None:
    d = desk(fee_bps=2, slippage_bps=0)
    d.submit(buy(kind="target", fraction=1))
    d.bar(100.0)
    assert d.account().cash < 1e-9
    order = d.submit(buy(quantity=1))
    assert d.bar(100.0) == []
    assert (order.status, order.reason) == ("rejected", "insufficient cash")


# --- perpetuals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mark", "equity"),
    [
        (90.0, 10_100.0),  # short 10 from 100: 10000 + (-10) * (90 - 100)
        (120.0, 9_800.0),  # 10000 + (-10) * (120 - 100)
        (100.0, 10_000.0),
    ],
)
def test_perp_short_target_opens_a_negative_position(mark: float, equity: float) -> None:
    d = desk(PERP, fee_bps=0, slippage_bps=0)
    d.submit(sell(PERP, kind="target", quantity=10))
    (fill,) = d.bar(100.0, c=mark)
    assert (fill.side, fill.quantity, fill.price) == ("sell", 10.0, 100.0)
    position = d.account().positions[PERP]
    assert (position.quantity, position.avg_price) == (-10.0, 100.0)
    account = d.account()
    assert account.cash == 10_000.0  # a perp books only realized PnL and fees into cash
    assert account.equity == approx(equity, rel=1e-12)
    a, b = d.executor.mark_line(PERP) or (math.nan, math.nan)
    assert a + b * mark == approx(equity, rel=1e-12)


def test_perp_flip_realizes_the_closed_part_and_opens_the_rest() -> None:
    d = desk(PERP, fee_bps=2, slippage_bps=0)
    d.submit(buy(PERP, kind="target", quantity=10))
    (opened,) = d.bar(100.0)
    # fee = 10 * 100 * 0.0002 = 0.2; cash 10000 - 0.2
    assert opened.fee == approx(0.2, rel=1e-12)
    assert d.account().cash == approx(9_999.8, rel=1e-12)

    d.submit(sell(PERP, kind="target", quantity=5))
    (flip,) = d.bar(120.0, c=118.0)
    # trade -15 at 120: fee = 15 * 120 * 0.0002 = 0.36
    # closed 10: realized 10 * (120 - 100) = 200; net = 200 - entry fee 0.2 - 0.36 * 10/15 = 199.56
    assert (flip.side, flip.quantity, flip.price) == ("sell", 15.0, 120.0)
    assert flip.fee == approx(0.36, rel=1e-12)
    assert flip.realized_pnl == approx(199.56, rel=1e-12)
    position = d.account().positions[PERP]
    assert position.quantity == -5.0 and position.avg_price == 120.0  # the rest opened at the fill price
    assert position.realized_pnl == approx(200.0, rel=1e-12)
    # cash = 9999.8 + 200 - 0.36 = 10199.44; equity = 10199.44 + (-5) * (118 - 120) = 10209.44
    assert d.account().cash == approx(10_199.44, rel=1e-12)
    assert d.account().equity == approx(10_209.44, rel=1e-12)

    d.submit(close(PERP))
    (closed,) = d.bar(110.0)
    # buy 5 at 110: fee = 5 * 110 * 0.0002 = 0.11; realized = 5 * (120 - 110) = 50
    # net = 50 - entry fee of the short (0.36 * 5/15 = 0.12) - 0.11 = 49.77
    assert (closed.side, closed.quantity) == ("buy", 5.0)
    assert closed.realized_pnl == approx(49.77, rel=1e-12)
    # cash = 10199.44 + 50 - 0.11 = 10249.33 = 10000 + 199.56 + 49.77
    account = d.account()
    assert account.cash == approx(10_249.33, rel=1e-12)
    assert account.equity == account.cash
    assert account.fees == approx(0.2 + 0.36 + 0.11, rel=1e-12)


LEVERAGE = [
    # equity 10000, price 100, fee 0: at most 10000 * leverage / 100 units
    pytest.param(buy(PERP, quantity=300), 100.0, "cut to the margin available", id="1x-long"),
    pytest.param(sell(PERP, quantity=300), 100.0, "cut to the margin available", id="1x-short"),
    pytest.param(buy(PERP, notional=30_000), 100.0, "cut to the margin available", id="1x-notional"),
    pytest.param(
        Intent(PERP, "order", "buy", Size(quantity=300), leverage=2), 200.0, "cut to the margin available", id="2x"
    ),
    pytest.param(Intent(PERP, "order", "sell", Size(quantity=300), leverage=3), 300.0, "", id="3x-fits"),
    pytest.param(Intent(PERP, "target", "buy", Size(quantity=50), leverage=5), 50.0, "", id="5x-small"),
    # leverage below 1 counts as 1
    pytest.param(
        Intent(PERP, "order", "buy", Size(quantity=300), leverage=0.5), 100.0, "cut to the margin available", id="0.5x"
    ),
]


@pytest.mark.parametrize(("intent", "filled", "reason"), LEVERAGE)
def test_perp_leverage_bounds_the_size(intent: Intent, filled: float, reason: str) -> None:
    d = desk(PERP, fee_bps=0, slippage_bps=0)
    order = d.submit(intent)
    (fill,) = d.bar(100.0)
    assert (order.status, order.reason) == ("filled", reason)
    assert fill.quantity == approx(filled, rel=1e-12)
    assert abs(d.quantity()) * 100.0 <= 10_000 * max(intent.leverage, 1.0) * (1 + 1e-9)


def test_perp_leverage_counts_the_position_held() -> None:
    d = desk(PERP, fee_bps=0, slippage_bps=0)
    d.submit(buy(PERP, quantity=60))
    d.bar(100.0)
    order = d.submit(buy(PERP, quantity=100))  # 1x: 100 units at most, 60 held, so 40 more
    (fill,) = d.bar(100.0)
    assert (order.reason, fill.quantity, d.quantity()) == ("cut to the margin available", 40.0, 100.0)
    order = d.submit(buy(PERP, quantity=1))
    assert d.bar(100.0) == []
    assert (order.status, order.reason) == ("rejected", "insufficient margin")
    order = d.submit(sell(PERP, quantity=30))  # reducing needs no margin
    assert len(d.bar(100.0)) == 1 and d.quantity() == 70.0


def test_perp_flip_past_the_margin_limit_ends_short() -> None:
    # Long 60 at 100 (fee 0, 1x, equity 10000), then a target short of 300: the margin allows a short of
    # 10000 * 1 / 100 = 100, so the cut trade is -160 and the position -100. paper.py computes
    # room = 100 - |60| = 40 and trades -40, leaving the account LONG 20 after a target short.
    d = desk(PERP, fee_bps=0, slippage_bps=0)
    d.submit(buy(PERP, quantity=60))
    d.bar(100.0)
    order = d.submit(sell(PERP, kind="target", quantity=300))
    d.bar(100.0)
    assert (order.status, order.reason) == ("filled", "cut to the margin available")
    assert d.quantity() == approx(-100.0, rel=1e-12)


# --- limit orders ---------------------------------------------------------------------------------------

LIMITS = [
    # (side, limit, bars as (open, high, low, close) that do not fill, the filling bar, price, liquidity, fee)
    # buy 1 at 95 with fee 5 bps and maker fee 1 bp; the market is at 100
    pytest.param(
        "buy", 95.0, [(100, 101, 96, 99), (99, 99, 95.01, 97)], (97, 98, 94, 96), 95.0, "maker", 0.0095, id="buy-touch"
    ),  # maker fee = 1 * 95 * 0.0001
    pytest.param("buy", 95.0, [], (96, 96, 95, 95.5), 95.0, "maker", 0.0095, id="buy-low-equals-limit"),
    # resting since the bar before, the bid is in the book when the market gaps to 93: sellers meet it at its
    # own price, 95, as a maker
    pytest.param("buy", 95.0, [(100, 100, 96, 97)], (93, 94, 92, 94), 95.0, "maker", 0.0095, id="buy-gap-resting"),
    # arriving at an open of 93, below the limit: marketable, it fills at the open as a taker: 93 * 0.0005
    pytest.param("buy", 95.0, [], (93, 94, 92, 94), 93.0, "taker", 0.0465, id="buy-gap-arriving"),
    # sell 1 at 105, holding 1
    pytest.param(
        "sell", 105.0, [(100, 104.99, 99, 104)], (104, 106, 103, 105), 105.0, "maker", 0.0105, id="sell-touch"
    ),
    # opens at 107, above the limit: 107 * 0.0005 = 0.0535
    pytest.param("sell", 105.0, [], (107, 108, 106, 107), 107.0, "taker", 0.0535, id="sell-gap"),
]


@pytest.mark.parametrize(("side", "limit", "waiting", "filling", "price", "liquidity", "fee"), LIMITS)
def test_limit_orders_rest_until_price_trades_through(
    side: str,
    limit: float,
    waiting: list[tuple[float, float, float, float]],
    filling: tuple[float, float, float, float],
    price: float,
    liquidity: str,
    fee: float,
) -> None:
    d = desk(fee_bps=5, maker_fee_bps=1, slippage_bps=3)
    if side == "sell":
        d.submit(buy(quantity=1))
        d.bar(100.0)
    fees_before = d.account().fees
    order = d.submit(Intent(SPOT, "order", side, Size(quantity=1), order_type="limit", price=limit))  # type: ignore[arg-type]
    for o, h, lo, c in waiting:
        assert d.bar(o, h, lo, c) == []
        assert order.status == "open" and d.executor.has_open_orders()
    (fill,) = d.bar(*filling)
    assert (fill.side, fill.quantity, fill.price, fill.liquidity) == (side, 1.0, price, liquidity)
    assert fill.fee == approx(fee, rel=1e-12)
    assert d.account().fees - fees_before == approx(fee, rel=1e-12)
    assert order.status == "filled" and not d.executor.has_open_orders()
    assert d.bar(100.0) == []  # filled once only


def test_a_limit_close_fills_or_is_rejected() -> None:
    # Holding 1, close with a limit at 105 (a take-profit); the next bar trades 103..106. _malformed accepts
    # it (a close needs no side) but _try_fill matches only side == "buy"/"sell", so it rests forever.
    d = desk(fee_bps=0, slippage_bps=0)
    d.submit(buy(quantity=1))
    d.bar(100.0)
    order = d.submit(Intent(SPOT, "close", order_type="limit", price=105.0))
    fills = d.bar(104.0, 106.0, 103.0, 105.0)
    assert [f.price for f in fills] == [105.0] or order.status == "rejected"


def test_a_limit_target_never_sells_below_the_open() -> None:
    # Holding 3, target buy 1 with a buy limit at 95: the trade is a sell of 2. The bar opens at 100 and dips
    # to 94, so the buy-limit rule fills it at min(100, 95) = 95 -- a sale 5 below the open. A sell limit at
    # 95 would have filled at the open (100); a target whose direction contradicts its side could also be
    # rejected. Either way no sale below the open.
    d = desk(fee_bps=0, slippage_bps=0)
    d.submit(buy(quantity=3))
    d.bar(100.0)
    d.submit(Intent(SPOT, "target", "buy", Size(quantity=1), order_type="limit", price=95.0))
    fills = d.bar(100.0, 100.0, 94.0, 96.0)
    assert all(f.price >= 100.0 for f in fills if f.side == "sell")


def test_negative_maker_fee_is_a_rebate() -> None:
    d = desk(fee_bps=5, maker_fee_bps=-1, slippage_bps=0)
    d.submit(Intent(SPOT, "order", "buy", Size(quantity=2), order_type="limit", price=95.0))
    (fill,) = d.bar(99.0, lo=94.0)
    # fee = 2 * 95 * (-0.0001) = -0.019: cash = 10000 - 190 + 0.019
    assert fill.fee == approx(-0.019, rel=1e-12)
    assert d.account().cash == approx(9_810.019, rel=1e-12)


def test_cancel_all_removes_resting_orders() -> None:
    d = desk()
    order = d.submit(Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit", price=50.0))
    d.bar(100.0)
    assert d.executor.cancel_all(d.cycle()) == [order]
    assert order.status == "cancelled" and not d.executor.has_open_orders()
    assert d.bar(40.0) == []


def test_a_cancel_intent_withdraws_only_its_steps_earlier_orders_on_the_symbol() -> None:
    d = desk()
    mine = d.submit(Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit", price=50.0, step_id="quote"))
    theirs = d.submit(Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit", price=60.0, step_id="other"))
    d.bar(100.0)
    fresh = d.submit(Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit", price=55.0, step_id="quote"))
    request = d.submit(Intent(SPOT, "cancel", step_id="quote"))
    assert (mine.status, theirs.status, fresh.status) == ("cancelled", "open", "open")
    assert mine.reason == f"cancelled by quote at {d.t}"
    assert (request.status, request.reason) == ("filled", "cancelled 1 open order(s)")


# --- malformed intents ----------------------------------------------------------------------------------

MALFORMED = [
    pytest.param(
        Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit"),
        "a limit order needs a positive price",
        id="limit-without-price",
    ),
    pytest.param(
        Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit", price=0.0),
        "a limit order needs a positive price",
        id="limit-at-zero",
    ),
    pytest.param(
        Intent(SPOT, "order", "buy", Size(quantity=1), order_type="limit", price=math.nan),
        "a limit order needs a positive price",
        id="limit-at-nan",
    ),
    pytest.param(
        Intent(SPOT, "order", "buy", Size(quantity=1), post_only=True),
        "post-only needs a limit order",
        id="post-only-market",
    ),
    pytest.param(Intent(SPOT, "order", "buy"), "an order intent needs a side and a size", id="order-without-size"),
    pytest.param(
        Intent(SPOT, "target", None, Size(fraction=1)), "a target intent needs a side and a size", id="target-no-side"
    ),
]


@pytest.mark.parametrize(("intent", "reason"), MALFORMED)
def test_malformed_intents_are_rejected(intent: Intent, reason: str) -> None:
    d = desk()
    order = d.submit(intent)
    assert (order.status, order.reason) == ("rejected", reason)
    assert not d.executor.has_open_orders()
    assert d.bar(90.0, h=200.0, lo=1.0) == []


# --- idempotency ----------------------------------------------------------------------------------------


def test_the_same_client_id_is_one_order_and_one_fill() -> None:
    d = desk(fee_bps=0, slippage_bps=0)
    cid = client_id("test", d.t, "plan", 0)
    first = d.submit(buy(quantity=1), cid)
    again = d.submit(buy(quantity=1), cid)  # the same cycle retried: a new Order object, the same id
    d.executor.submit(first, d.cycle())  # and the very same object twice
    (fill,) = d.bar(100.0)
    assert fill.client_id == cid and fill.quantity == 1.0
    assert first.status == "filled" and again.status == "pending"
    d.submit(buy(quantity=1), cid)  # even after the fill
    assert d.bar(100.0) == []
    assert d.quantity() == 1.0
    assert d.account().cash == 9_900.0


# --- properties on real prices --------------------------------------------------------------------------


@cache
def btc_minutes(rows: int = 4_000) -> list[tuple[float, float, float, float]]:
    path = data_path("candles", "binance-usdm", "BTCUSDT-1m.csv.gz")
    with gzip.open(path, "rt") as f:
        reader = csv.DictReader(f)
        return [
            (float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]))
            for _, r in zip(range(rows), reader, strict=False)
        ]


WINDOW = 200

sizes = st.one_of(
    st.builds(Size, fraction=st.floats(0.01, 1.0)),
    st.builds(Size, notional=st.floats(1.0, 25_000.0)),
    st.builds(Size, quantity=st.floats(1e-4, 0.4)),  # BTC near 95k: up to ~38k of notional, beyond the cash
)


@st.composite
def steps(draw: st.DrawFn, symbol: str) -> tuple[int, Intent]:
    """Bars to wait after submitting, and an intent."""
    kind = draw(st.sampled_from(["order", "order", "target", "close"]))
    limit = draw(st.booleans()) and draw(st.booleans())
    intent = Intent(
        symbol,
        kind,  # type: ignore[arg-type]
        side=draw(st.sampled_from(["buy", "buy", "sell"])),
        size=draw(sizes),
        order_type="limit" if limit else "market",
        reduce_only=draw(st.integers(0, 7)) == 0,
        leverage=draw(st.sampled_from([1.0, 1.0, 2.0, 5.0])),
    )
    if limit:
        intent.price = draw(st.floats(-0.002, 0.002))  # offset from the close, set when submitted
    return draw(st.integers(0, 8)), intent


def check_account(d: Desk, closes: dict[str, float]) -> None:
    account = d.account()
    perp = ":" in d.symbol
    marked = account.cash
    for symbol, position in account.positions.items():
        q = position.quantity
        if not perp:
            assert q >= 0.0, f"spot position {q}"
        marked += q * (closes[symbol] - position.avg_price) if perp else q * closes[symbol]
    if not perp:
        assert account.cash >= -1e-6, f"spot cash {account.cash}"
    assert account.equity == approx(marked, rel=1e-6, abs=1e-6)
    assert account.fees >= 0.0
    # every cash movement is a ledger entry; cash never stays negative (a liquidation's shortfall is insured)
    ledger = [e for c in d.cycles for e in c.ledger]
    assert account.cash == approx(10_000 + math.fsum(e.amount for e in ledger), rel=1e-9, abs=1e-6)
    assert all(e.amount <= 0 for e in ledger if e.kind in ("fee", "liquidation_fee"))
    assert account.cash >= -1e-6 or not account.liquidations
    if any(kind == "liquidation" for c in d.cycles[-1:] for kind, _ in c.events):
        assert all(not p.quantity for s, p in account.positions.items() if ":" in s)
    assert all(f.fee >= 0.0 and f.quantity > 0.0 for f in d.fills)
    assert math.fsum(f.fee for f in d.fills) == approx(account.fees, rel=1e-9, abs=1e-9)
    line = d.executor.mark_line(d.symbol)
    assert line is not None
    assert line[0] + line[1] * closes[d.symbol] == approx(account.equity, rel=1e-9, abs=1e-6)
    assert account.equity > 0.0 or perp
    # a perp account's margin balance stays above its maintenance requirement at every close, unless this
    # very bar liquidated it
    if perp and not any(kind == "liquidation" for c in d.cycles[-1:] for kind, _ in c.events):
        assert account.equity >= account.maintenance_margin * (1 - 1e-9) - 1e-6


def check_fills(
    fills: list[Fill], bar: tuple[float, float, float, float], orders: dict[str, Order], slip: float
) -> None:
    """Market fills are at the open slipped by exactly the slippage; limit fills at the limit or the open."""
    o, h, lo, _ = bar
    for fill in fills:
        intent = orders[fill.client_id].intent
        if intent.order_type == "market":
            assert fill.liquidity == "taker"
            assert fill.price in (approx(o * (1 + slip), rel=1e-12), approx(o * (1 - slip), rel=1e-12))
        else:
            assert fill.price in (intent.price, o)
            if not lo <= fill.price <= h:
                # a resting limit the price gapped through between bars traded at its own price on the way
                assert fill.price == intent.price and ((o > fill.price) if fill.side == "sell" else (o < fill.price))


# Two thousand random order sequences in all (about 50 s): the simulator is only worth what its books are.
@pytest.mark.parametrize("symbol", [SPOT, PERP])
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_trading_keeps_the_books(symbol: str, data: st.DataObject) -> None:
    bars = btc_minutes()
    start = data.draw(st.integers(0, len(bars) - WINDOW), label="start")
    plan = data.draw(st.lists(steps(symbol), min_size=3, max_size=30), label="plan")
    fee = data.draw(st.sampled_from([0.0, 2.0, 5.0]), label="fee_bps")
    slip = data.draw(st.sampled_from([0.0, 1.0, 5.0]), label="slippage_bps")
    cash = 10_000.0
    d = desk(symbol, cash=cash, start=bars[start][3], fee_bps=fee, slippage_bps=slip, maker_fee_bps=fee / 2)
    orders: dict[str, Order] = {}
    window = iter(bars[start + 1 : start + WINDOW])

    def step(bar: tuple[float, float, float, float]) -> None:
        check_fills(d.bar(*bar), bar, orders, slip / 10_000)
        check_account(d, {symbol: bar[3]})

    for wait, intent in plan:
        if intent.order_type == "limit":
            assert intent.price is not None
            intent.price = d.lane[d.slots[3]] * (1 + intent.price)
        order = d.submit(intent)
        orders[order.client_id] = order
        for bar in [b for _, b in zip(range(wait), window, strict=False)]:
            step(bar)
    d.executor.cancel_all(d.cycle())
    order = d.submit(Intent(symbol, "close"))
    orders[order.client_id] = order
    for bar in window:
        step(bar)
    assert {o.status for o in orders.values()} <= {"filled", "cancelled", "rejected", "open"}
    event(f"fills: {min(len(d.fills), 12) // 3 * 3}+")
    # Flat at the end: every fee was charged to some fill's net PnL, and the cash moved by exactly their sum.
    if d.quantity() == 0.0:
        net = math.fsum(f.realized_pnl for f in d.fills if f.realized_pnl is not None)
        assert d.account().cash - cash == approx(net, rel=1e-6, abs=1e-6)


# --- the perp simulator on real history -----------------------------------------------------------------

HOUR = 3_600_000


def real_hours(venue: str, start_ms: int, end_ms: int) -> list[tuple[int, float, float, float, float]]:
    """(open time, open, high, low, close) of the real BTCUSDT 1h candles in [start, end)."""
    with gzip.open(data_path("candles", venue, "BTCUSDT-1h.csv.gz"), "rt") as f:
        return [
            (int(r["timestamp"]), float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]))
            for r in csv.DictReader(f)
            if start_ms <= int(r["timestamp"]) < end_ms
        ]


def test_a_10x_long_opened_on_2020_03_11_is_liquidated_on_the_right_bar_at_the_right_price() -> None:
    """Spot BTC 1h as the perp's price. Cash 10000, all-in at 10x, fee 2 bps, maintenance 0.5%, liquidation
    fee 5 bps: the long opens at the open of 2020-03-11 01:00 and dies on the crash."""
    bars = real_hours("binance-spot", 1_583_884_800_000, 1_584_316_800_000)  # 2020-03-11 .. 2020-03-16
    _, o0, *_ = bars[0]
    d = desk(PERP, start=o0, fee_bps=2, slippage_bps=0, max_leverage=10, maintenance_margin=0.005)
    d.step, d.t = HOUR, bars[1][0]  # the bar of 00:00 has closed: an order decided now fills at 01:00's open
    order = d.submit(Intent(PERP, "target", "buy", Size(fraction=1.0), leverage=10))
    _, entry, *_ = bars[1]
    # by hand: all of the equity as margin at 10x, fees included
    q = 10_000 * 10 / (entry * (1 + 0.0002 * 10))
    fee = q * entry * 0.0002
    cash = 10_000 - fee
    # equity(p) = cash + q (p - entry) meets 0.5% of q p: p = (q entry - cash) / (q (1 - 0.005))
    liq = (q * entry - cash) / (q * (1 - 0.005))
    want = next(i for i, (_, _, _, low, _) in enumerate(bars) if i > 1 and low <= liq)
    assert 0.89 * entry < liq < 0.91 * entry  # about 10% below the entry at 10x
    for i, (_, o, h, lo, c) in enumerate(bars[1:], start=1):
        fills = d.bar(o, h, lo, c)
        if i == 1:
            assert order.status == "filled" and d.quantity() == approx(q, rel=1e-12)
            assert fills[0].price == entry and fills[0].fee == approx(fee, rel=1e-12)
        if i == want:
            break
        assert d.quantity() == approx(q, rel=1e-12), f"alive until bar {want}"
    (fill,) = fills
    price = min(bars[want][1], liq)  # a gap through the price fills at the open
    assert (fill.t, fill.side, fill.price) == (bars[want][0] + HOUR, "sell", approx(price, rel=1e-12))
    assert d.quantity() == 0.0
    account = d.account()
    assert account.liquidations == 1
    # cash = cash + q (price - entry) - liquidation fee, and what it lacks the insurance fund pays
    after = cash + q * (price - entry) - q * price * 0.0005
    assert account.cash == approx(max(after, 0.0), rel=1e-9, abs=1e-9)
    assert "liquidation" in [kind for kind, _ in d.cycles[-1].events]
    assert sum(e.amount for c in d.cycles for e in c.ledger) == approx(account.cash - 10_000, rel=1e-9)


def test_a_month_of_real_binance_funding_is_paid_at_the_close_of_each_funding_time() -> None:
    """Long 0.1 BTC through May 2024 on real usdm 1h candles: every 8h the position pays 0.1 * close * rate."""
    funding_file = data_path("funding", "binance-usdm", "BTCUSDT-8h.csv")
    start, end = 1_714_521_600_000, 1_717_200_000_000
    bars = real_hours("binance-usdm", start - HOUR, end)
    d = desk(PERP, start=bars[0][1], funding=str(funding_file), timeframe="1h", fee_bps=0, slippage_bps=0)
    d.step, d.t = HOUR, bars[1][0]
    d.submit(buy(PERP, quantity=0.1))
    for _, o, h, lo, c in bars[1:]:
        d.bar(o, h, lo, c)
    closes = {t + HOUR: c for t, _, _, _, c in bars}
    with funding_file.open() as f:
        rates = [(int(r["timestamp"]), float(r["funding_rate"])) for r in csv.DictReader(f)]
    # the position opened at 00:00 on May 1, the open of its first bar: it owes every funding after that,
    # up to the close of the last bar (00:00 on June 1), each at the close of the bar ending at its time
    due = [(t, rate) for t, rate in rates if start < t <= bars[-1][0] + HOUR]
    want = math.fsum(0.1 * closes[t] * rate for t, rate in due)
    paid = d.account().funding
    assert len(due) == 31 * 3
    assert [e.t for c in d.cycles for e in c.ledger if e.kind == "funding"] == [t for t, _ in due]
    assert paid == approx(want, rel=1e-12)
    assert -math.fsum(e.amount for c in d.cycles for e in c.ledger if e.kind == "funding") == approx(want, rel=1e-12)
    assert d.account().cash == approx(10_000 - want, rel=1e-12)
