"""Validators, table by table, at real prices; and random absurd plans never get a violating order through."""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import compile_yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.block import Account
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.types import Intent, Position, Size

PERP = "BTC/USDC:USDC"
BTC_CLOSE = 104_063.2  # BTCUSDT 1m close of 2025-05-10 00:00 UTC, from shared/data
MAY_10 = 1746835200000  # 2025-05-10 00:00 UTC, a Saturday

BOT = """
bot: guard
version: 1.0.0
account: {{cash: 10000, quote: USDC}}
symbols: [{symbol}, ETH/USDC:USDC]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 1m}}}}
  - {{id: adx, uses: indicator.adx, with: {{high: candles.high, low: candles.low, close: candles.close}}}}
  - {{id: ema, uses: indicator.ema, with: {{of: candles.close}}}}
  - {{id: atr, uses: indicator.atr, with: {{high: candles.high, low: candles.low, close: candles.close}}}}
  - {{id: regime, uses: indicator.regime, with: {{adx: adx.adx, trend: ema, volatility: atr}}}}
  - {{id: plan, uses: planner.noop}}
  - {{id: guard, uses: {block}, with: {config}}}
  - {{id: exec, uses: executor.paper}}
"""


def pipeline(block: str, config: str) -> Pipeline:
    bot = compile_yaml(BOT.format(symbol=PERP, block=block, config=config))
    p = Pipeline(bot, BuildContext(bot))
    for _, validator in p.validators:
        validator.start(p.ctx)
    return p


def judge(p: Pipeline, intent: Intent, t: int = MAY_10, regime: str | None = None, held: float = 0.0) -> Any:
    lanes = {sym: [None] * len(p.ctx.slots) for sym in p.ctx.symbols}
    for lane in lanes.values():
        lane[p.ctx.slot("candles.close")] = BTC_CLOSE
        lane[p.ctx.slot("regime")] = regime
    positions = {PERP: Position(PERP, held, BTC_CLOSE)} if held else {}
    cycle = Cycle(t, lanes, account=lambda: Account(10_000.0, 10_000.0, positions))
    ((_, validator),) = p.validators
    return validator.verdict(intent, cycle)


def buy(**kw: Any) -> Intent:
    size = kw.pop("size", Size(notional=1000))
    return Intent(PERP, "target", "buy", size, **kw)


EXIT_PLAN = [
    (buy(), "reject", "no stop-loss"),
    (buy(stop_loss=BTC_CLOSE * 0.98), "approve", ""),
    (buy(stop_loss=BTC_CLOSE * 1.01), "reject", "wrong side"),
    (Intent(PERP, "target", "sell", Size(notional=1000), stop_loss=BTC_CLOSE * 0.99), "reject", "wrong side"),
    (buy(stop_loss=BTC_CLOSE * 0.90), "reject", "farther than 5.00%"),
    (buy(stop_loss=BTC_CLOSE * 0.9995), "reject", "closer than 0.10%"),
    (buy(stop_loss=BTC_CLOSE * 0.98, take_profit=BTC_CLOSE * 0.99), "reject", "take-profit"),
    (buy(stop_loss=float("nan")), "reject", "wrong side"),
    (Intent(PERP, "close"), "approve", ""),
    (buy(reduce_only=True), "approve", ""),
]


@pytest.mark.parametrize(("intent", "action", "reason"), EXIT_PLAN)
def test_exit_plan(intent: Intent, action: str, reason: str) -> None:
    verdict = judge(pipeline("validator.exit_plan", "{max_stop_pct: 0.05}"), intent)
    assert verdict.action == action and reason in verdict.reason


SCHEDULE = "{windows: [{days: [mon, tue, wed, thu, fri], start: '08:00', end: '20:00'}, {days: [sat], start: '22:00', end: '02:00'}], blackouts: [{start: '2025-05-12T12:00:00Z', end: '2025-05-12T14:00:00Z', reason: CPI}]}"  # noqa: E501
HOUR = 3_600_000


@pytest.mark.parametrize(
    ("t", "action", "reason"),
    [
        (MAY_10, "reject", "Sat 2025-05-10 00:00 UTC is outside"),  # Saturday, before the 22:00 window
        (MAY_10 + 23 * HOUR, "approve", ""),  # Saturday 23:00
        (MAY_10 + 25 * HOUR, "approve", ""),  # Sunday 01:00: the Saturday window runs past midnight
        (MAY_10 + 27 * HOUR, "reject", "outside"),  # Sunday 03:00
        (MAY_10 + 2 * 24 * HOUR + 9 * HOUR, "approve", ""),  # Monday 09:00
        (MAY_10 + 2 * 24 * HOUR + 12 * HOUR + 30 * 60_000, "reject", "CPI: no entries until Mon 2025-05-12 14:00"),
        (MAY_10 + 2 * 24 * HOUR + 20 * HOUR, "reject", "outside"),  # Monday 20:00: the end is exclusive
    ],
)
def test_schedule(t: int, action: str, reason: str) -> None:
    p = pipeline("validator.schedule", SCHEDULE)
    verdict = judge(p, buy(), t)
    assert verdict.action == action and reason in verdict.reason
    assert judge(p, Intent(PERP, "close"), t).action == "approve"  # unwinding is never blocked


@pytest.mark.parametrize(
    ("regime", "size", "action", "resized"),
    [
        ("volatile", Size(fraction=0.5), "resize", Size(fraction=0.25)),
        ("trending_down", Size(notional=1000), "reject", None),
        ("ranging", Size(quantity=0.2), "approve", None),
        ("trending_up", Size(quantity=0.2), "resize", Size(quantity=0.3)),
        (None, Size(notional=1000), "approve", None),  # no regime yet
    ],
)
def test_regime_sizing(regime: str | None, size: Size, action: str, resized: Size | None) -> None:
    config = "{regime: regime, multipliers: {volatile: 0.5, trending_down: 0, trending_up: 1.5}}"
    verdict = judge(pipeline("validator.regime_sizing", config), buy(size=size), regime=regime)
    assert verdict.action == action
    if resized is not None:
        got = verdict.size.model_dump(exclude_none=True)
        assert got == pytest.approx(resized.model_dump(exclude_none=True))


ROUNDING = "{markets: {'BTC/USDC:USDC': {tick: 1.0, lot: 0.001, min_quantity: 0.001, min_notional: 10}}}"


@pytest.mark.parametrize(
    ("intent", "action", "quantity", "price"),
    [
        (buy(size=Size(quantity=0.12345)), "resize", 0.123, None),  # down to the lot, never up
        (buy(size=Size(quantity=0.123)), "approve", None, None),
        (buy(size=Size(quantity=0.0004)), "reject", None, None),  # rounds to 0
        (buy(size=Size(notional=5)), "reject", None, None),  # below the minimum value
        (buy(size=Size(quantity=0.01), order_type="limit", price=104_063.7), "approve", None, 104_063.0),
        (
            Intent(PERP, "order", "sell", Size(quantity=0.01), order_type="limit", price=104_063.2),
            "approve",
            None,
            104_064.0,
        ),
    ],
)
def test_rounding(intent: Intent, action: str, quantity: float | None, price: float | None) -> None:
    verdict = judge(pipeline("validator.rounding", ROUNDING), intent)
    assert verdict.action == action, verdict.reason
    if quantity is not None:
        assert verdict.size == Size(quantity=quantity)
    if price is not None:
        assert intent.price == price  # buys round down, sells up: never a worse price


def test_rounding_can_refuse_instead() -> None:
    p = pipeline("validator.rounding", ROUNDING.replace("}}}", "}}, on_mismatch: reject}"))
    assert "not a multiple of the lot" in judge(p, buy(size=Size(quantity=0.12345))).reason


# --- absurd plans ----------------------------------------------------------------------------------------

GUARDED = """
bot: guarded
version: 1.0.0
account: {cash: 10000, quote: USDC}
symbols: [BTC/USDC:USDC, ETH/USDC:USDC]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1m}}
  - {id: plan, uses: planner.noop}
  - id: limits
    uses: validator.limits
    with: {max_leverage: 5, max_position_usd: 20000, min_notional_usd: 10, deny_symbols: [ETH/USDC:USDC]}
  - {id: stops, uses: validator.exit_plan, with: {max_stop_pct: 0.05}}
  - {id: lots, uses: validator.rounding, with: {markets: {'BTC/USDC:USDC': {tick: 1, lot: 0.001, min_notional: 10}}}}
  - {id: exec, uses: executor.paper}
"""

floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf"), BTC_CLOSE * 0.97, BTC_CLOSE * 1.03]),
)
sizes = st.one_of(
    st.builds(lambda q: Size(quantity=q), st.floats(min_value=1e-9, max_value=1e4)),
    st.builds(lambda n: Size(notional=n), st.floats(min_value=1e-6, max_value=1e9)),
    st.builds(lambda f: Size(fraction=f), st.floats(min_value=1e-6, max_value=1.0)),
)
intents = st.builds(
    Intent,
    symbol=st.sampled_from([PERP, "ETH/USDC:USDC", "DOGE/USDC:USDC", "BTC/USDT"]),
    kind=st.sampled_from(["order", "target"]),
    side=st.sampled_from(["buy", "sell"]),
    size=sizes,
    order_type=st.sampled_from(["market", "limit"]),
    price=st.one_of(st.none(), st.sampled_from([BTC_CLOSE, BTC_CLOSE * 1.0004, BTC_CLOSE * 0.999]), floats),
    leverage=st.one_of(st.sampled_from([1.0, 3.0, 5.0, 0.0, -2.0, 5.0001, 1000.0, math.nan, math.inf]), st.floats()),
    stop_loss=st.one_of(st.none(), st.sampled_from([BTC_CLOSE * 0.97, BTC_CLOSE * 1.03]), floats),
    take_profit=st.one_of(st.none(), floats),
)


@settings(max_examples=500)
@given(st.lists(intents, min_size=1, max_size=8))
def test_no_order_that_breaks_a_limit_reaches_the_executor(plan: list[Intent]) -> None:
    bot = compile_yaml(GUARDED)
    p = Pipeline(bot, BuildContext(bot))
    for _, validator in p.validators:
        validator.start(p.ctx)
    lanes = {sym: [None] * len(p.ctx.slots) for sym in p.ctx.symbols}
    for lane in lanes.values():
        lane[p.ctx.slot("candles.close")] = BTC_CLOSE
    cycle = Cycle(MAY_10, lanes, account=lambda: Account(10_000.0, 10_000.0, {}))
    ((_, planner),) = p.planners
    for order in p.act(planner, plan, cycle):
        intent = order.intent
        assert intent.symbol == PERP, "only the configured symbols reach the executor"
        assert intent.leverage <= 5
        price = intent.price if intent.price is not None else BTC_CLOSE
        assert math.isfinite(price) and price > 0
        stop = intent.stop_loss
        assert stop is not None and math.isfinite(stop)
        assert 0.001 <= abs(price - stop) / price <= 0.05
        assert (stop < price) if intent.side == "buy" else (stop > price)
        size = intent.size
        assert size is not None
        leverage = max(intent.leverage, 1.0)  # as the executor sizes a fraction
        notional = size.notional or (size.quantity or 0) * price or (size.fraction or 0) * 10_000 * leverage
        assert notional >= 10
        if size.quantity is not None:
            assert abs(size.quantity / 0.001 - round(size.quantity / 0.001)) < 1e-6
            assert size.quantity * price <= 20_000 * (1 + 1e-9)
        if size.notional is not None:
            assert size.notional <= 20_000 * (1 + 1e-9)
        if intent.price is not None:
            assert intent.price == round(intent.price)
