"""The portfolio planners by hand (planner.momentum_rotation, planner.yield_rank, planner.target_weights), and
planner.target_weights on the real subnet data."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import compile_yaml, data_path, issues_of

from blocks.planners.yield_rank import YieldRank
from blocks.sources.subnet_files import load_subnets
from runner.block import Account, Planner
from runner.compile import compile_file
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.runs import RunOptions, backtest
from runner.store import Store
from runner.types import Intent, Position

HOUR = 3_600_000
SYMBOLS = ["SN1/TAO", "SN2/TAO", "SN3/TAO", "SN4/TAO"]

BOT = """
bot: planners
version: 1.0.0
account: {{cash: 100, quote: TAO}}
symbols: [SN1/TAO, SN2/TAO, SN3/TAO, SN4/TAO]
pipeline:
  - {{id: subnets, uses: source.subnets, with: {{timeframe: 1h}}}}
  - {{id: plan, uses: {uses}, with: {{{with_}}}}}
  - {{id: exec, uses: executor.paper}}
"""


class Desk:
    """One planner fed by hand: lanes of close/high/stability per symbol and a paper-less account."""

    def __init__(self, uses: str, with_: str) -> None:
        bot = compile_yaml(BOT.format(uses=uses, with_=with_))
        pipeline = Pipeline(bot, BuildContext(bot))
        ((_, planner),) = pipeline.planners
        planner.start(pipeline.ctx)
        self.planner: Planner = planner
        self.slots = {name: pipeline.ctx.slots[("subnets", name)] for name in ("close", "high", "stability")}
        self.lanes: dict[str, list[Any]] = {s: [None] * len(pipeline.ctx.slots) for s in SYMBOLS}
        self.positions: dict[str, Position] = {}
        self.cash = 100.0

    def set(self, name: str, values: dict[str, float]) -> None:
        for symbol, value in values.items():
            self.lanes[symbol][self.slots[name]] = value

    def hold(self, *symbols: str) -> None:
        self.positions = {s: Position(s, 1.0, 10.0) for s in symbols}

    def plan(self, t: int) -> list[Intent]:
        equity = self.cash + sum(p.quantity * 10.0 for p in self.positions.values())
        return self.planner.plan(Cycle(t, self.lanes, account=lambda: Account(self.cash, equity, self.positions)))


def trades(intents: list[Intent]) -> list[tuple[str, str]]:
    return [(i.kind if i.kind == "close" else str(i.side), i.symbol) for i in intents]


# --- planner.momentum_rotation --------------------------------------------------------------------------


def test_momentum_rotation_sells_first_and_refills_freed_slots_once_the_sales_filled() -> None:
    desk = Desk("planner.momentum_rotation", "of: subnets.close, window: 2, top_k: 2, rebalance_every: 3, amount: 5")
    for t, closes in enumerate([[10, 10, 10, 10], [11, 10, 9, 12], [12, 10, 8, 13]]):
        desk.set("close", dict(zip(SYMBOLS, map(float, closes), strict=True)))
        intents = desk.plan(t)
    assert trades(intents) == [("buy", "SN4/TAO"), ("buy", "SN1/TAO")]  # +30% and +20%: the top two
    desk.hold("SN4/TAO", "SN1/TAO")
    for t, closes in enumerate([[12, 11, 8, 13], [12, 12, 8, 13]], 3):  # between rebalances: nothing to do
        desk.set("close", dict(zip(SYMBOLS, map(float, closes), strict=True)))
        assert desk.plan(t) == []
    desk.set("close", dict(zip(SYMBOLS, [12.0, 14.0, 8.0, 12.0], strict=True)))
    intents = desk.plan(5)  # rebalance: SN2 +27% and SN1 0% lead; SN4 -8% goes, SN2 waits for its slot
    assert trades(intents) == [("close", "SN4/TAO")]
    assert intents[0].reason == "momentum -7.69% over 2 cycles, rank 4 of 4"
    assert desk.plan(6) == []  # the sale has not filled yet: still two held
    desk.hold("SN1/TAO")
    assert trades(desk.plan(7)) == [("buy", "SN2/TAO")]


def test_momentum_rotation_sells_a_holding_that_falls_to_the_exit_threshold_between_rebalances() -> None:
    desk = Desk(
        "planner.momentum_rotation",
        "of: subnets.close, window: 1, top_k: 1, rebalance_every: 10, exit_threshold: -0.05",
    )
    desk.set("close", dict.fromkeys(SYMBOLS, 10.0))
    desk.plan(0)
    desk.set("close", {"SN1/TAO": 11.0})
    assert trades(desk.plan(1)) == [("buy", "SN1/TAO")]
    desk.hold("SN1/TAO")
    desk.set("close", {"SN1/TAO": 10.0})  # -9%
    (sale,) = desk.plan(2)
    assert (sale.kind, sale.symbol) == ("close", "SN1/TAO")
    assert "at or below exit_threshold -5.00%" in sale.reason
    desk.hold()
    assert desk.plan(3) == [], "the slot stays empty until the next rebalance"


def test_equal_weights_take_a_slot_of_equity_each_and_together_no_more_than_the_cash() -> None:
    def first_buys(cash: float, positions: dict[str, Position]) -> list[tuple[str, float | None]]:
        desk = Desk("planner.momentum_rotation", "of: subnets.close, window: 1, top_k: 4")
        desk.set("close", dict.fromkeys(SYMBOLS, 10.0))
        desk.plan(0)
        desk.set("close", dict(zip(SYMBOLS, [11.0, 12.0, 13.0, 9.0], strict=True)))  # SN4 -10%: out
        desk.cash, desk.positions = cash, positions
        return [(i.symbol, i.size.fraction if i.size else None) for i in desk.plan(1) if i.kind == "order"]

    assert first_buys(100.0, {}) == [("SN3/TAO", 0.25), ("SN2/TAO", 0.25), ("SN1/TAO", 0.25)]
    # equity 100 of which 85 in SN4, being sold: the three buys share the 15 of cash
    assert first_buys(15.0, {"SN4/TAO": Position("SN4/TAO", 8.5, 10.0)}) == [
        ("SN3/TAO", pytest.approx(0.05)),
        ("SN2/TAO", pytest.approx(0.05)),
        ("SN1/TAO", pytest.approx(0.05)),
    ]


# --- planner.yield_rank ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranks", "held", "chosen"),
    [
        ({"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6}, set(), ["A", "B"]),
        ({"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6}, {"C", "D"}, ["A", "C"]),  # A beats D by 0.3; B beats C by 0.1 only
        ({"A": 0.74, "B": 0.8, "C": 0.7}, {"C", "A"}, ["A", "C"]),  # B beats C by 0.1: not enough
        ({"A": 0.9, "C": 0.0}, {"C"}, ["A"]),  # at min_rank: sold even with no candidate to replace it
        ({"A": 0.9, "B": 0.85}, {"X"}, ["X", "A"]),  # X has no rank: kept, never judged
        ({}, set(), []),
    ],
)
def test_yield_rank_replaces_a_holding_only_for_a_clear_gain(
    ranks: dict[str, float], held: set[str], chosen: list[str]
) -> None:
    config = YieldRank.Config.model_validate({"rank": "subnets.stability", "top_k": 2, "min_improvement": 0.15})
    assert YieldRank("plan", config).choose(ranks, held) == chosen


def test_yield_rank_acts_at_the_first_known_rank_then_every_n_cycles() -> None:
    desk = Desk("planner.yield_rank", "rank: subnets.stability, top_k: 1, rebalance_every: 3, amount: 10")
    assert desk.plan(0) == []
    desk.set("stability", {"SN1/TAO": 0.5, "SN2/TAO": 0.6})
    assert trades(desk.plan(1)) == [("buy", "SN2/TAO")]
    desk.hold("SN2/TAO")
    desk.set("stability", {"SN1/TAO": 0.9})
    assert desk.plan(2) == [] and desk.plan(3) == []
    (sale,) = desk.plan(4)
    assert (sale.kind, sale.symbol) == ("close", "SN2/TAO")
    assert "replaced by a symbol ranked at least 0.05 higher" in sale.reason


# --- planner.target_weights -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ("band: 0.02", "give exactly one of weights (fixed) or weight (a series)"),
        ("weights: {SN1/TAO: 0.7, SN2/TAO: 0.6}", "weights add up to 1.3; at most 1 can be invested"),
        ("weights: {SN1/TAO: 1.5}", "weights must be from 0 to 1 (got SN1/TAO outside)"),
        ("weights: {SN9/TAO: 0.5}", "'SN9/TAO' is not one of the bot's symbols"),
    ],
)
def test_target_weights_config_mistakes(with_: str, message: str) -> None:
    (issue,) = issues_of(BOT.format(uses="planner.target_weights", with_=with_))
    assert message in issue.message


def test_target_weights_sells_before_it_buys() -> None:
    desk = Desk("planner.target_weights", "weights: {SN1/TAO: 0.2, SN2/TAO: 0.5}, band: 0.05")
    desk.set("close", dict.fromkeys(SYMBOLS, 10.0))
    desk.cash = 10.0
    desk.positions = {"SN1/TAO": Position("SN1/TAO", 9.0, 10.0)}  # 90% of equity in SN1
    (sale,) = desk.plan(0)
    assert (sale.kind, sale.symbol, sale.size.fraction if sale.size else None) == ("target", "SN1/TAO", 0.2)
    desk.cash, desk.positions = 80.0, {"SN1/TAO": Position("SN1/TAO", 2.0, 10.0)}
    (buy,) = desk.plan(1)  # the next cycle, off schedule: the buy the sale made room for
    assert (buy.kind, buy.symbol, buy.size.fraction if buy.size else None) == ("target", "SN2/TAO", 0.5)


def test_target_weights_hold_their_band_on_real_subnet_prices(tmp_path: Path) -> None:
    """Every cycle without an order has each weight within the band; every order was for a weight outside it,
    and sales and buys never share a cycle."""
    subnets = data_path("bittensor", "subnets")
    targets = {"SN1/TAO": 0.4, "SN3/TAO": 0.3, "SN4/TAO": 0.2}
    path = tmp_path / "weights.yaml"
    path.write_text(BOT.format(uses="planner.target_weights", with_=f"weights: {targets}, band: 0.01".replace("'", "")))
    store = Store(tmp_path / "r.db")
    run = backtest(store, compile_file(path), RunOptions({"subnets": str(subnets)}))["run_id"]
    fills = store.rows(
        "SELECT t, symbol, side, quantity, price, fee FROM fills WHERE run_id = ? ORDER BY t, id", (run,)
    )
    intents = store.rows("SELECT t, symbol, side, kind FROM intents WHERE run_id = ?", (run,))
    assert len(fills) > 10
    ordered: dict[int, set[str]] = defaultdict(set)
    for i in intents:
        ordered[i["t"]].add(i["symbol"])
    bars = load_subnets(str(subnets), [1, 2, 3, 4], HOUR, 30)
    closes = {
        f"SN{n}/TAO": dict(zip([t + HOUR for t in b.time], b.column("close"), strict=True)) for n, b in bars.items()
    }
    cash, held, k = 100.0, dict.fromkeys(targets, 0.0), 0
    for t in sorted(closes["SN1/TAO"]):
        sides = set()
        while k < len(fills) and fills[k]["t"] <= t:
            f = fills[k]
            sign = 1 if f["side"] == "buy" else -1
            held[f["symbol"]] += sign * f["quantity"]
            cash -= sign * f["quantity"] * f["price"] + f["fee"]
            sides.add(f["side"])
            k += 1
        assert sides != {"buy", "sell"}, "sales go first; buys wait for them"
        equity = cash + sum(q * closes[s][t] for s, q in held.items())
        drift = {s: abs(held[s] * closes[s][t] / equity - w) for s, w in targets.items()}
        assert {s for s, d in drift.items() if d > 0.01 + 1e-9} >= ordered[t], "an order only for a drifted weight"
        if not ordered[t]:
            assert max(drift.values()) <= 0.01 + 1e-9, f"out of band at {t} with no order"
    assert cash >= 0


def test_target_weights_from_a_series_spread_invest_over_its_positive_values() -> None:
    desk = Desk("planner.target_weights", "weight: subnets.stability, invest: 0.9")
    desk.set("close", dict.fromkeys(SYMBOLS, 10.0))
    desk.set("stability", {"SN1/TAO": 0.5, "SN2/TAO": 0.25, "SN4/TAO": 0.0})  # SN3 unknown: left as it is
    buys = desk.plan(0)
    assert [(i.symbol, i.size.fraction if i.size else None) for i in buys] == [
        ("SN1/TAO", pytest.approx(0.6)),
        ("SN2/TAO", pytest.approx(0.3)),
    ]
