"""planner.market_maker: quotes, skew and inventory caps by hand; on real candles, quotes never pile up."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import BOTS, compile_yaml, real_candles

from runner.block import Account
from runner.compile import compile_file
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.runs import RunOptions, backtest
from runner.store import Store
from runner.types import Position

BOT = """
bot: mm
version: 1.0.0
account: {{cash: 10000, quote: USDC}}
symbols: [{symbol}]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 1m}}}}
  - id: quote
    uses: planner.market_maker
    with: {{mid: candles.close, spread_bps: 20, order_size: 1, refresh_bars: 3{extra}}}
  - {{id: exec, uses: executor.paper}}
"""


def quotes(held: float, symbol: str = "BTC/USDC:USDC", extra: str = ", max_inventory: 2, skew: 0.5") -> list[Any]:
    bot = compile_yaml(BOT.format(symbol=symbol, extra=extra))
    pipeline = Pipeline(bot, BuildContext(bot))
    ((_, planner),) = pipeline.planners
    planner.start(pipeline.ctx)
    lane: list[Any] = [None] * len(pipeline.ctx.slots)
    lane[pipeline.ctx.slot("candles.close")] = 100.0
    positions = {symbol: Position(symbol, held, 100.0)} if held else {}
    return list(planner.plan(Cycle(0, {symbol: lane}, account=lambda: Account(1e4, 1e4, positions))))


def prices(intents: list[Any]) -> dict[str, float]:
    return {i.side: i.price for i in intents if i.kind == "order"}


def test_flat_quotes_sit_the_half_spread_either_side_after_a_cancel() -> None:
    intents = quotes(0.0)
    assert [i.kind for i in intents] == ["cancel", "order", "order"]
    assert prices(intents) == {"buy": pytest.approx(99.8), "sell": pytest.approx(100.2)}
    assert all(i.order_type == "limit" and i.post_only for i in intents[1:])


def test_inventory_skews_the_quotes_and_the_cap_drops_a_side() -> None:
    # long 1 of a max 2: the center moves down by 0.5 * 0.002 * 1/2 = 0.05%
    assert prices(quotes(1.0)) == {"buy": pytest.approx(99.95 * 0.998), "sell": pytest.approx(99.95 * 1.002)}
    at_cap = prices(quotes(2.0))  # a bid would take the position to 3
    assert set(at_cap) == {"sell"} and at_cap["sell"] == pytest.approx(99.9 * 1.002)
    assert set(prices(quotes(-2.0))) == {"buy"}


def test_spot_never_asks_for_more_than_it_holds() -> None:
    assert set(prices(quotes(0.0, "BTC/USDC", extra=""))) == {"buy"}
    assert set(prices(quotes(1.0, "BTC/USDC", extra=""))) == {"buy", "sell"}


def test_order_size_above_the_cap_is_refused() -> None:
    with pytest.raises(Exception, match="above max_inventory"):
        compile_yaml(BOT.format(symbol="BTC/USDC:USDC", extra=", max_inventory: 0.5"))


def test_on_real_candles_quotes_are_replaced_not_piled_up(tmp_path: Any) -> None:
    data = real_candles(tmp_path, 3_000)
    store = Store(tmp_path / "r.db")
    summary = backtest(store, compile_file(BOTS / "market_maker_basic.yaml"), RunOptions({"BTC/USDC:USDC": str(data)}))
    run = summary["run_id"]
    fills = store.rows("SELECT t, side, quantity, price, liquidity FROM fills WHERE run_id = ? ORDER BY t, id", (run,))
    orders = store.rows("SELECT t, kind, status, reason, price FROM orders WHERE run_id = ?", (run,))
    assert len(fills) > 20
    assert {f["liquidity"] for f in fills} == {"maker"}  # post-only quotes never take
    held = 0.0
    for fill in fills:
        held += fill["quantity"] if fill["side"] == "buy" else -fill["quantity"]
        assert abs(held) <= 0.05 + 1e-9
    quotes = [o for o in orders if o["kind"] == "order"]
    replaced = [o for o in quotes if o["reason"].startswith("cancelled by quote")]
    assert len(replaced) > len(quotes) / 2, "most quotes go unfilled and are replaced"
    for order in replaced:
        cancelled_at = int(order["reason"].rsplit(" ", 1)[1])
        assert cancelled_at - order["t"] == 5 * 60_000  # at the very next refresh, five bars on
    others = {o["reason"] for o in quotes if o["status"] == "cancelled" and o not in replaced}
    # a quote the open crossed is cancelled (post-only); the last pair is cancelled when the run ends
    assert others <= {"post-only order would take liquidity at the open", "cancelled"}
    assert not [o for o in orders if o["status"] in ("open", "pending")]
