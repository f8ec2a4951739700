"""source.subnets on the real subnet files: bars are exactly the snapshots within them, gaps stay gaps, health
is never read ahead, the stability rank follows its documented formula, and bad input names its place."""

from __future__ import annotations

import csv
import gzip
import math
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import SUBNET_GAPS, compile_yaml, issues_of, ms

from blocks.sources.subnet_files import load_subnets
from blocks.sources.subnets import netuid
from runner.cliutil import UsageError, parse_data
from runner.cycle import BuildContext, Pipeline
from runner.errors import BlockError, DataError

HOUR = 3_600_000
NETUIDS = (3, 8, 19)


@pytest.fixture(scope="module")
def snapshots(subnets: Path) -> dict[int, list[tuple[int, float, float, float]]]:
    """(time ms, price, pool, emission) of every snapshot of NETUIDS, read with the csv module."""
    out: dict[int, list[tuple[int, float, float, float]]] = defaultdict(list)
    with gzip.open(subnets / "prices-5m.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            n = int(row["netuid"])
            if n in NETUIDS:
                out[n].append(
                    (
                        ms(row["snapshot_utc"]),
                        float(row["price_tao"]),
                        float(row["tao_pool_tao"]),
                        float(row["emission_enabled"]),
                    )
                )
    return out


@pytest.fixture(scope="module")
def health(subnets: Path) -> dict[int, list[tuple[int, float, float]]]:
    """(time ms, validators, active neurons) of every health snapshot of NETUIDS, in time order."""
    out: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    with gzip.open(subnets / "health.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            n = int(row["netuid"])
            if n in NETUIDS:
                out[n].append((ms(row["snapshot_utc"]), float(row["validators"]), float(row["active_neurons"])))
    return {n: sorted(rows) for n, rows in out.items()}


@pytest.mark.parametrize("timeframe", [HOUR, 4 * HOUR, 24 * HOUR], ids=["1h", "4h", "1d"])
def test_bars_are_the_ohlc_of_the_snapshots_within_them(
    subnets: Path, snapshots: dict[int, list[tuple[int, float, float, float]]], timeframe: int
) -> None:
    bars = load_subnets(str(subnets), NETUIDS, timeframe, 30)
    end = max(t for rows in snapshots.values() for t, *_ in rows)
    for n in NETUIDS:
        buckets: dict[int, list[tuple[int, float, float, float]]] = defaultdict(list)
        for snap in snapshots[n]:
            buckets[snap[0] - snap[0] % timeframe].append(snap)
        expected = {t: rows for t, rows in buckets.items() if t + timeframe - 300_000 <= end}  # finished bars
        series = bars[n]
        assert series.time == sorted(expected)
        for i, t in enumerate(series.time):
            prices = [p for _, p, _, _ in expected[t]]
            got = [series.column(name)[i] for name in ("open", "high", "low", "close", "tao_pool", "emission")]
            assert got == [prices[0], max(prices), min(prices), prices[-1], expected[t][-1][2], expected[t][-1][3]]


def test_gaps_stay_gaps_and_no_bar_is_unfinished(subnets: Path) -> None:
    series = load_subnets(str(subnets), [8], HOUR, 30)[8]
    closes = [t + HOUR for t in series.time]
    for before, after in SUBNET_GAPS:
        inside = [c for c in closes if ms(before) + HOUR < c <= ms(after)]
        assert inside == [], "no bar may be invented inside a gap"
    # the data ends at 20:45:04 on 2026-08-22: the 20:00 bar is unfinished and left out
    assert closes[-1] == ms("2026-08-22 20:00:00")


def test_health_is_joined_as_of_the_bar_close(subnets: Path, health: dict[int, list[tuple[int, float, float]]]) -> None:
    bars = load_subnets(str(subnets), NETUIDS, HOUR, 30)
    for n in NETUIDS:
        series = bars[n]
        for i, t in enumerate(series.time):
            known = [row for row in health[n] if row[0] < t + HOUR]
            want = (known[-1][1], known[-1][2]) if known else (None, None)
            assert (series.column("validators")[i], series.column("active_neurons")[i]) == want


def test_stability_follows_its_formula(subnets: Path) -> None:
    window = 30
    series = load_subnets(str(subnets), [8], HOUR, window)[8]
    close, stability = series.column("close"), series.column("stability")
    assert stability[:window] == [None] * window, "a full window of returns comes first"
    for i in (window, 100, len(series) - 1):
        returns = [
            math.log(close[j] / close[j - 1]) * math.sqrt(86_400_000 / (series.time[j] - series.time[j - 1]))
            for j in range(i - window + 1, i + 1)
        ]
        sigma = statistics.pstdev(returns)
        assert series.column("volatility")[i] == pytest.approx(sigma, rel=1e-9)
        pool, validators, active = (series.column(c)[i] for c in ("tao_pool", "validators", "active_neurons"))
        factors = [
            1 / (1 + sigma / 0.05),
            pool / (pool + 10_000),
            validators / (validators + 10),
            active / (active + 10),
        ]
        assert stability[i] == pytest.approx(math.prod(factors) ** 0.25, rel=1e-9)


def test_a_subnet_without_emission_ranks_zero(subnets: Path) -> None:
    series = load_subnets(str(subnets), [10], HOUR, 30)[10]  # netuid 10 receives no emission in this window
    assert set(series.column("emission")) == {0.0}
    assert {s for s in series.column("stability") if s is not None} == {0.0}


def test_a_cut_leaves_every_earlier_bar_as_it_was(subnets: Path) -> None:
    whole = load_subnets(str(subnets), [8, 19], HOUR, 30)
    cut = ms("2026-08-08 12:00:00")
    part = load_subnets(str(subnets), [8, 19], HOUR, 30, until=cut)
    for n in (8, 19):
        kept = len(part[n])
        assert whole[n].time[kept - 1] + HOUR == cut
        assert [c[:kept] for c in whole[n].columns] == [list(c) for c in part[n].columns]


def test_the_source_feeds_every_symbol_its_bars(subnets: Path) -> None:
    bot = compile_yaml(BOT)
    pipeline = Pipeline(bot, BuildContext(bot, data={"subnets": str(subnets)}))
    pipeline.open()
    (feed,) = pipeline.feeds
    lanes: dict[str, list[Any]] = pipeline.lanes
    assert len(feed.timeline) == len(load_subnets(str(subnets), [8], HOUR, 30)[8])
    assert sorted(feed.emit(5, lanes)) == ["SN19/TAO", "SN8/TAO"]
    close = pipeline.ctx.slot("subnets.close")
    assert lanes["SN8/TAO"][close] == load_subnets(str(subnets), [8], HOUR, 30)[8].column("close")[5]


BOT = """
bot: subnets
version: 1.0.0
account: {cash: 100, quote: TAO}
symbols: [SN8/TAO, SN19/TAO]
pipeline:
  - {id: subnets, uses: source.subnets, with: {timeframe: 1h}}
  - {id: plan, uses: planner.noop}
  - {id: exec, uses: executor.paper}
"""


def test_data_binds_to_the_source_by_step_id(subnets: Path) -> None:
    bot = compile_yaml(BOT)
    assert parse_data(bot, [f"subnets={subnets}"]) == {"subnets": os.path.abspath(subnets)}
    with pytest.raises(UsageError, match="has no source step 'prices'"):
        parse_data(bot, [f"prices={subnets}"])
    assert parse_data(bot, [f"prices={subnets}"], strict=False) == {}
    with pytest.raises(UsageError, match=r"SYMBOL=FILE for each \(or STEP=PATH"):
        parse_data(bot, [str(subnets)])


def test_without_data_the_source_says_how_to_bind_it() -> None:
    bot = compile_yaml(BOT)
    with pytest.raises(BlockError, match="pass --data subnets=DIR with the bittensor/subnets directory"):
        Pipeline(bot, BuildContext(bot)).open()


def test_symbols_must_be_subnets_and_bars_no_finer_than_the_snapshots() -> None:
    issues = issues_of(BOT.replace("SN19/TAO", "BTC/USDT").replace("timeframe: 1h", "timeframe: 1m"))
    assert [str(i) for i in issues] == [
        "bot.yaml:5:20: symbols[1]: 'BTC/USDT' is not a subnet symbol for subnets; write SN<netuid>/TAO, e.g. SN8/TAO",
        "bot.yaml:7:59: pipeline[0].with.timeframe: 1m is finer than the 5-minute snapshots; use 5m or coarser",
    ]


def test_netuid_of_a_symbol() -> None:
    assert netuid("SN8/TAO") == 8
    with pytest.raises(ValueError, match="not a subnet symbol"):
        netuid("SN8/USDT")


def test_bad_files_name_the_file_and_line(tmp_path: Path, subnets: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        load_subnets(str(tmp_path / "nope"), [8], HOUR, 30)
    with pytest.raises(DataError, match=r"prices-5m.csv.gz: no such file"):
        load_subnets(str(tmp_path), [8], HOUR, 30)
    header = "snapshot_utc,block,netuid,price_tao,tao_pool_tao,emission_enabled\n"
    rows = ["2026-07-21 13:49:43,1,8,0.02,100,1\n", "2026-07-21 13:54:43,2,8,-0.02,100,1\n"]
    with gzip.open(tmp_path / "prices-5m.csv.gz", "wt") as f:
        f.write(header + "".join(rows))
    with pytest.raises(DataError, match=r"prices-5m.csv.gz:3: price_tao must be positive \(got -0.02\)"):
        load_subnets(str(tmp_path), [8], HOUR, 30)
    with gzip.open(tmp_path / "prices-5m.csv.gz", "wt") as f:
        f.write(header + rows[1].replace(",-0.02", ",0.02") + rows[0])
    with pytest.raises(DataError, match=r"prices-5m.csv.gz:3: snapshot_utc goes back in time"):
        load_subnets(str(tmp_path), [8], HOUR, 30)
    with pytest.raises(DataError, match="no snapshots of netuid 999"):
        load_subnets(str(subnets), [8, 999], HOUR, 30)
