"""Permafrost's alpha strategies as shipped bots, backtested on the real subnet data through both week-long gaps
and run in paper: each decision is checked against what the data file says, recomputed here on its own."""

from __future__ import annotations

import csv
import gzip
import json
import os
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import BOTS, ROOT, SUBNET_GAPS, ms

from blocks.sources.subnet_files import load_subnets
from runner.compile import compile_file
from runner.runs import RunOptions, backtest
from runner.store import Store

HOUR = 3_600_000
RUNNER = str(Path(sys.executable).with_name("runner"))


@pytest.fixture(scope="module")
def hourly(subnets: Path) -> dict[int, dict[int, tuple[float, float]]]:
    """netuid -> hour close time -> (high, close) of its snapshots, read with the csv module; unfinished hour out."""
    bars: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
    end = 0
    with gzip.open(subnets / "prices-5m.csv.gz", "rt") as f:
        rows = csv.reader(f)
        next(rows)
        for when, _, n, price, *_ in rows:
            t, p = ms(when), float(price)
            end = max(end, t)
            close = t - t % HOUR + HOUR
            high = bars[int(n)].get(close, (p, p))[0]
            bars[int(n)][close] = (max(high, p), p)
    return {n: {c: v for c, v in b.items() if c - 300_000 <= end} for n, b in bars.items()}


def run_backtest(tmp_path: Path, bot: str, subnets: Path) -> tuple[dict[str, Any], Store]:
    store = Store(tmp_path / "r.db")
    summary = backtest(store, compile_file(BOTS / f"{bot}.yaml"), RunOptions({"subnets": str(subnets)}))
    return summary, store


def fills(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.rows("SELECT t, symbol, side, quantity FROM fills WHERE run_id = ? ORDER BY t, id", (run_id,))


def holdings_after(rows: list[dict[str, Any]], t: int) -> set[str]:
    """Symbols held once the fills up to and including time ``t`` are booked."""
    held: dict[str, float] = defaultdict(float)
    for f in rows:
        if f["t"] <= t:
            held[f["symbol"]] += f["quantity"] if f["side"] == "buy" else -f["quantity"]
    return {s for s, q in held.items() if q > 1e-9}


def assert_trades_around_the_gaps(store: Store, run_id: str) -> None:
    """No order in a gap (there is no bar there to decide on), and trading goes on after each gap."""
    times = [r["t"] for r in store.rows("SELECT t FROM orders WHERE run_id = ?", (run_id,))]
    for before, after in SUBNET_GAPS:
        assert not [t for t in times if ms(before) + HOUR < t <= ms(after)]
        assert [t for t in times if t > ms(after)], "the bot must trade again after the gap"


def test_alpha_momentum_holds_the_top_five_by_momentum_after_each_rebalance(
    tmp_path: Path, subnets: Path, hourly: dict[int, dict[int, tuple[float, float]]]
) -> None:
    summary, store = run_backtest(tmp_path, "alpha_momentum", subnets)
    run = summary["run_id"]
    assert_trades_around_the_gaps(store, run)
    done = fills(store, run)
    cycles = sorted(hourly[1])
    assert all(sorted(hourly[n]) == cycles for n in range(1, 65)), "every subnet has a bar in every cycle"
    closes = {n: [hourly[n][c][1] for c in cycles] for n in range(1, 65)}
    # the bot: momentum over 30 cycles, top 5 above -2%, rebalanced every 6 cycles from the first momentum
    sold_on_threshold = {
        r["t"]
        for r in store.rows("SELECT t, payload FROM intents WHERE run_id = ? AND kind = 'close'", (run,))
        if "exit_threshold" in json.loads(r["payload"])["reason"]
    }
    checked = 0
    for i in range(30, len(cycles) - 2, 6):
        momentum = {f"SN{n}/TAO": closes[n][i] / closes[n][i - 30] - 1 for n in closes}
        ranked = sorted(momentum, key=lambda s: (-momentum[s], s))
        target = {s for s in ranked[:5] if momentum[s] > -0.02}
        # sales fill at the next bar's open; the buys they make room for are sent then and fill a bar later
        if sold_on_threshold & {cycles[i + 1], cycles[i + 2]}:
            continue
        assert holdings_after(done, cycles[i + 2]) == target, f"rebalance at cycle {i}"
        checked += 1
    assert checked >= 50
    assert max(len(holdings_after(done, f["t"])) for f in done) <= 5


def test_alpha_yield_never_holds_more_than_three_and_switches_only_for_a_clear_gain(
    tmp_path: Path, subnets: Path
) -> None:
    summary, store = run_backtest(tmp_path, "alpha_yield", subnets)
    run = summary["run_id"]
    assert_trades_around_the_gaps(store, run)
    done = fills(store, run)
    assert max(len(holdings_after(done, f["t"])) for f in done) == 3
    bars = load_subnets(str(subnets), list(range(1, 65)), HOUR, 30)
    stability = {
        f"SN{n}/TAO": dict(zip([t + HOUR for t in b.time], b.column("stability"), strict=True)) for n, b in bars.items()
    }
    decisions = store.rows("SELECT t, symbol, kind FROM intents WHERE run_id = ? ORDER BY t, leg", (run,))
    sales = [(d["t"], d["symbol"]) for d in decisions if d["kind"] == "close"]
    assert sales, "the month should bring at least one switch"
    for t, sold in sales:
        if stability[sold][t] <= 0:
            continue  # sold for having no emission (min_rank), not for a better subnet
        held = holdings_after(done, t - 1) - {sold}
        best = max(
            (s for s in stability if s not in held and s != sold and stability[s][t] is not None),
            key=lambda s: stability[s][t],
        )
        assert stability[best][t] - stability[sold][t] >= 0.05, f"{sold} sold at {t} for too small a gain"


def test_alpha_dca_buys_every_subnet_every_four_hours_and_doubles_in_a_dip(
    tmp_path: Path, subnets: Path, hourly: dict[int, dict[int, tuple[float, float]]]
) -> None:
    summary, store = run_backtest(tmp_path, "alpha_dca", subnets)
    run = summary["run_id"]
    assert_trades_around_the_gaps(store, run)
    intents = store.rows("SELECT t, symbol, payload FROM intents WHERE run_id = ? ORDER BY t, leg", (run,))
    for n in (8, 3, 19):
        cycles = sorted(hourly[n])
        expected, last = [], None
        for t in cycles:
            if last is None or t - last >= 4 * HOUR:
                expected.append(t)
                last = t
        mine = [r for r in intents if r["symbol"] == f"SN{n}/TAO"]
        assert [r["t"] for r in mine] == expected
        for r in mine:
            close = hourly[n][r["t"]][1]
            high = max(hourly[n][c][0] for c in cycles if r["t"] - 7 * 24 * HOUR < c <= r["t"])
            notional = json.loads(r["payload"])["size"]["notional"]
            assert notional == (2.0 if close <= 0.9 * high else 1.0)
    assert {json.loads(r["payload"])["size"]["notional"] for r in intents} == {1.0, 2.0}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def activity(db: Path, run_id: str) -> list[list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return [
            conn.execute(f"SELECT {columns} FROM {table} WHERE run_id = ? ORDER BY t, {order}", (run_id,)).fetchall()
            for table, columns, order in (
                ("intents", "t, step_id, leg, symbol, kind, side, payload, verdicts, approved", "step_id, leg"),
                ("orders", "client_id, t, symbol, kind, side, status, reason", "client_id"),
                ("fills", "client_id, t, symbol, side, quantity, price, fee", "client_id"),
            )
        ]


@pytest.mark.parametrize("bot", ["alpha_dca", "alpha_momentum", "alpha_yield"])
def test_a_paper_run_over_a_gap_does_what_its_backtest_does(tmp_path: Path, subnets: Path, bot: str) -> None:
    """Ten days around the second gap, through `runner run --replay subnets=DIR`: the same intents, orders and
    fills as a backtest of the same window."""
    db, path = tmp_path / "r.db", str(BOTS / f"{bot}.yaml")
    window = ("--from", "2026-08-07T00:00", "--until", "2026-08-17T00:00")
    paper = cli("run", path, "--replay", f"subnets={subnets}", *window, "--db", str(db))
    assert paper.returncode == 0, paper.stderr
    assert f"{bot}@1.0.0  paper" in paper.stdout
    tested = cli(
        "backtest", path, "--data", f"subnets={subnets}", "--from", window[1], "--to", window[3], "--db", str(db)
    )
    assert tested.returncode == 0, tested.stderr
    with sqlite3.connect(db) as conn:
        runs = dict(conn.execute("SELECT kind, id FROM runs").fetchall())
        data = {json.loads(d)["subnets"] for (d,) in conn.execute("SELECT data FROM runs")}
    assert data == {os.path.abspath(subnets)}
    recorded, replayed = activity(db, runs["paper"]), activity(db, runs["backtest"])
    assert recorded == replayed
    assert recorded[2], "the window must hold fills"


@pytest.mark.parametrize("bot", ["alpha_dca", "alpha_momentum", "alpha_yield"])
def test_no_decision_reads_ahead(subnets: Path, bot: str) -> None:
    """Cut the subnet files after a bar, one of them just before the second gap: every decision and fill up to the
    cut is what the whole data gave (the stability's volatility window and the health join included)."""
    from runner.lookahead import check

    at = [ms("2026-07-25 18:00:00"), ms("2026-08-08 18:00:00"), ms("2026-08-19 09:00:00")]
    _, cuts = check(compile_file(BOTS / f"{bot}.yaml"), RunOptions({"subnets": str(subnets)}), at=at)
    assert [c.problems for c in cuts] == [[], [], []]
    assert cuts[-1].fills > 0
