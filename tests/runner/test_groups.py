"""Multi-leg groups: a leg is sent only once the leg before it filled; a failed leg cancels the rest."""

from __future__ import annotations

from typing import Any

from conftest import compile_yaml

from runner.cycle import BuildContext, Cycle, Pipeline
from runner.types import Intent, Size

BOT = """
bot: basis
version: 1.0.0
account: {cash: 1000, quote: USDC}
symbols: [ETH/USDC, ETH/USDC:USDC]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1m}}
  - {id: plan, uses: planner.noop}
  - {id: exec, uses: executor.paper, with: {fee_bps: 0, slippage_bps: 0}}
"""
SPOT, PERP = "ETH/USDC", "ETH/USDC:USDC"


class Desk:
    """A pipeline without data: bars are written by hand, one minute apart."""

    def __init__(self) -> None:
        bot = compile_yaml(BOT)
        self.p = Pipeline(bot, BuildContext(bot))
        self.p.executor.start(self.p.ctx)
        self.slots = self.p.ctx.price_slots()
        self.t = 0

    def bar(self, price: float) -> Cycle:
        """The next bar at ``price`` for both symbols: settle, then the pipeline's decision (groups advance)."""
        self.t += 60_000
        cycle = Cycle(self.t, self.p.lanes, account=self.p.account)
        for symbol, lane in self.p.lanes.items():
            for slot in self.slots:
                lane[slot] = price
            cycle.fills.extend(self.p.settle(symbol, lane, cycle))
        self.p.decide(cycle)
        return cycle

    def group(self, *intents: Intent) -> list[Any]:
        cycle = Cycle(self.t, self.p.lanes, account=self.p.account)
        orders = self.p.act(self.p.planners[0][1], list(intents), cycle)
        self.p.send(orders, cycle)
        return orders


def basis(side: str = "buy") -> tuple[Intent, Intent]:
    swap = Intent(SPOT, "order", side, Size(quantity=1.0), reason="spot leg")  # type: ignore[arg-type]
    hedge = Intent(PERP, "order", "sell", Size(quantity=1.0), order_type="limit", price=100.0, after_previous=True)
    return swap, hedge


def test_the_hedge_goes_out_only_after_the_spot_leg_filled() -> None:
    desk = Desk()
    desk.bar(100.0)
    spot, hedge = desk.group(*basis())
    assert (spot.status, hedge.status) == ("open", "pending")  # the hedge is held, not at the venue
    cycle = desk.bar(100.0)  # the spot leg fills at this open; the hedge is sent in the same cycle
    assert [f.symbol for f in cycle.fills] == [SPOT] and hedge in cycle.orders and hedge.status == "open"
    cycle = desk.bar(100.5)
    assert [f.symbol for f in cycle.fills] == [PERP] and hedge.status == "filled"
    assert desk.p.chains == []


def test_a_failed_leg_cancels_the_rest_and_is_recorded() -> None:
    desk = Desk()
    desk.bar(100.0)
    spot, hedge = desk.group(*basis("sell"))  # selling spot that is not held: the venue refuses it
    cycle = desk.bar(100.0)
    assert spot.status == "rejected"
    assert hedge.status == "cancelled" and hedge.reason.startswith("leg 0 rejected")
    assert hedge in cycle.orders and ("group" in {kind for kind, _ in cycle.events})
    assert not desk.p.executor.has_open_orders() and desk.p.account().positions.get(PERP) is None
