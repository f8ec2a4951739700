"""A breaker that tripped in a paper run is still tripped when the run is stopped and restarted over the same
data: the restart recomputes the recorded cycles (so the breaker trips again, unrecorded) and goes on from there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import compile_yaml, real_candles

from runner.cycle import Cycle
from runner.risk import compile_risk
from runner.runs import RunOptions, paper
from runner.store import Store

GUARDED = """
bot: guarded_ema
version: 1.0.0
account: {{cash: 10000, quote: USDC}}
symbols: [BTC/USDC:USDC]
pipeline:
  - {{id: candles, uses: source.candles, with: {{timeframe: 1m}}}}
  - {{id: fast, uses: indicator.ema, with: {{of: candles.close, period: 10}}}}
  - {{id: slow, uses: indicator.ema, with: {{of: candles.close, period: 30}}}}
  - {{id: plan, uses: planner.ema_cross, with: {{fast: fast, slow: slow, allow_short: true, size: {{fraction: 1.0}}}}}}
  - {{id: guard, uses: {block}, with: {config}}}
  - {{id: exec, uses: executor.paper, with: {{fee_bps: 5, slippage_bps: 2, max_leverage: 5}}}}
"""
DAY_MS = 86_400_000


def _paper(db: Path, bot: Any, data: Path, stop_after: int | None = None) -> dict[str, Any]:
    """A paper run; with ``stop_after``, stopped (as by Ctrl-C) once the cycle at that time is recorded."""
    recorded: list[int] = []

    def echo(cycle: Cycle) -> None:
        recorded.append(cycle.t)

    store = Store(db)
    try:
        options = RunOptions({"BTC/USDC:USDC": str(data)})
        stop = (lambda: bool(recorded) and recorded[-1] >= stop_after) if stop_after is not None else (lambda: False)
        return paper(store, bot, options, echo=echo, stop=stop)
    finally:
        store.close()


def _rows(db: Path, sql: str, *params: object) -> list[dict[str, Any]]:
    store = Store(db)
    try:
        return store.rows(sql, params)
    finally:
        store.close()


def _bot(block: str, config: str, house: bool) -> Any:
    """The guarded bot, its breaker in its own pipeline or in a risk file (a house rule)."""
    text = GUARDED.format(block=block, config=config)
    if not house:
        return compile_yaml(text)
    guard = next(line for line in text.splitlines() if "id: guard" in line)
    rules = compile_risk(f"risk:\n{guard}\n", "house.yaml")
    return compile_yaml(text.replace(guard + "\n", ""), risk=rules)


@pytest.mark.parametrize(
    ("block", "config", "lasts", "house"),
    [
        ("validator.daily_loss", "{max_loss_pct: 1}", "day", False),
        ("validator.drawdown", "{max_drawdown_pct: 3}", "run", False),
        ("validator.daily_loss", "{max_loss_pct: 1}", "day", True),
    ],
    ids=["daily_loss", "drawdown", "house_daily_loss"],
)
def test_a_tripped_breaker_stays_tripped_across_a_restart(
    tmp_path: Path, block: str, config: str, lasts: str, house: bool
) -> None:
    bot = _bot(block, config, house)
    assert [s.id for s in bot.steps if s.house] == (["guard"] if house else [])
    data = real_candles(tmp_path, 4 * 1440)
    clean, db = tmp_path / "clean.db", tmp_path / "restarted.db"
    reference = _paper(clean, bot, data)
    trips = _rows(clean, "SELECT t, message FROM events WHERE kind = 'breaker' AND message LIKE '%tripped%' ORDER BY t")
    assert trips, "the breaker must trip in this data for the test to mean anything"
    first = trips[0]["t"]
    stopped_at = first + 10 * 60_000

    stopped = _paper(db, bot, data, stop_after=stopped_at)
    assert _rows(db, "SELECT status, last_t FROM runs") == [{"status": "stopped", "last_t": stopped_at}]
    resumed = _paper(db, bot, data)
    assert resumed["run_id"] == stopped["run_id"]

    # every trip is one event, as in the run that was never stopped, and the restart added only its own
    events = "SELECT t, kind, message FROM events WHERE kind != 'resume' ORDER BY t, id"
    assert _rows(db, events) == _rows(clean, events)
    assert _rows(db, "SELECT t, message FROM events WHERE kind = 'resume'") == [
        {"t": stopped_at, "message": f"resumed after cycle {stopped_at}"}
    ]
    # after the restart, while the trip lasts, every entry is refused by the breaker
    until = (first // DAY_MS + 1) * DAY_MS if lasts == "day" else 2**62
    entries = "SELECT t, approved, verdicts FROM intents WHERE t > ? AND t < ? AND kind != 'close' ORDER BY t"
    after = _rows(db, entries, stopped_at, until)
    assert after, "the planner must propose entries after the restart for the test to mean anything"
    assert all(not i["approved"] and "guard tripped" in i["verdicts"] for i in after)
    assert not _rows(db, "SELECT client_id FROM orders WHERE t > ? AND t < ? AND kind != 'close'", stopped_at, until)
    # and the restarted run recorded exactly what the uninterrupted one did
    activity = "SELECT t, step_id, leg, kind, side, verdicts, approved FROM intents ORDER BY t, step_id, leg"
    assert _rows(db, activity) == _rows(clean, activity)
    assert resumed["final_equity"] == reference["final_equity"]
