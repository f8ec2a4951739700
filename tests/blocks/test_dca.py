"""planner.dca by hand: several symbols on their own intervals, and the buy-the-dip multiplier of a rolling high."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import compile_yaml, issues_of

from runner.block import Account
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.types import Intent

HOUR = 3_600_000
DAY = 24 * HOUR
BOT = """
bot: dca
version: 1.0.0
symbols: [BTC/USDT, ETH/USDT, SOL/USDT]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 1h}}}}
  - {{id: plan, uses: planner.dca, with: {{{with_}}}}}
  - {{id: exec, uses: executor.paper}}
"""


class Desk:
    """planner.dca fed by hand: the high and close of each symbol's lane."""

    def __init__(self, with_: str) -> None:
        bot = compile_yaml(BOT.format(with_=with_))
        pipeline = Pipeline(bot, BuildContext(bot))
        ((_, planner),) = pipeline.planners
        planner.start(pipeline.ctx)
        self.plan_at = planner.plan
        self.high, self.close = pipeline.ctx.slot("candles.high"), pipeline.ctx.slot("candles.close")
        self.lanes: dict[str, list[Any]] = {s: [None] * len(pipeline.ctx.slots) for s in bot.spec.symbols}

    def price(self, symbol: str, close: float, high: float | None = None) -> None:
        self.lanes[symbol][self.close] = close
        self.lanes[symbol][self.high] = close if high is None else high

    def plan(self, t: int) -> list[Intent]:
        return self.plan_at(Cycle(t, self.lanes, account=lambda: Account(1e4, 1e4)))


def test_every_symbol_is_bought_on_its_own_interval() -> None:
    desk = Desk("amount: 50, interval: 4h, symbols: [BTC/USDT, SOL/USDT]")
    desk.price("BTC/USDT", 100.0)
    assert [i.symbol for i in desk.plan(0)] == ["BTC/USDT"]  # SOL has no price yet
    desk.price("SOL/USDT", 10.0)
    assert [i.symbol for i in desk.plan(HOUR)] == ["SOL/USDT"]
    assert desk.plan(3 * HOUR) == []
    assert [i.symbol for i in desk.plan(4 * HOUR)] == ["BTC/USDT"]
    (buy,) = desk.plan(5 * HOUR)
    assert (buy.symbol, buy.order_type, buy.price, buy.reason) == (
        "SOL/USDT",
        "limit",
        pytest.approx(10.05),
        "every 4h",
    )


def test_without_symbols_it_buys_all_the_bots_symbols() -> None:
    desk = Desk("amount: 50")
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT"):
        desk.price(symbol, 10.0)
    assert [i.symbol for i in desk.plan(0)] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def test_a_dip_below_the_rolling_high_doubles_the_buy_and_old_highs_are_forgotten() -> None:
    desk = Desk("amount: 1, interval: 1h, symbol: BTC/USDT, dip_pct: 0.1, dip_window: 7d")

    def bought(t: int, high: float, close: float) -> float | None:
        desk.price("BTC/USDT", close, high)
        (intent,) = desk.plan(t)
        assert intent.size is not None
        return intent.size.notional

    assert bought(0, 100.0, 95.0) == 1.0
    assert bought(HOUR, 91.0, 90.0) == 2.0  # 10% below the high of 100
    assert bought(7 * DAY - HOUR, 86.0, 85.0) == 2.0
    assert bought(7 * DAY, 86.0, 85.0) == 1.0  # the 100 is a week old; the high is now 91
    assert bought(7 * DAY + HOUR, 86.0, 77.0) == 2.0  # the 91 has gone too: 10% below 86
    (intent,) = desk.plan(7 * DAY + 2 * HOUR)
    assert intent.reason == "every 1h; price 77 is 10.5% below its 1w high 86: x2"


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ("amount: 1, symbol: BTC/USDT, symbols: [ETH/USDT]", "give symbol or symbols, not both"),
        ("amount: 1, dip_below: candles.low, dip_pct: 0.1", "give dip_below or dip_pct, not both"),
        ("amount: 1, symbols: [XRP/USDT]", "'XRP/USDT' is not one of the bot's symbols"),
    ],
)
def test_config_mistakes(with_: str, message: str) -> None:
    (issue,) = issues_of(BOT.format(with_=with_))
    assert message in issue.message
