"""The kill switch, pause and resume, from a second process against a running paper bot."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT, real_candles

RUNNER = str(Path(sys.executable).with_name("runner"))

BOT = """\
bot: two_books
version: 1.0.0
account: {cash: 100000, quote: USDC}
symbols: [BTC/USDC:USDC, ETH/USDC]
pipeline:
  - {id: candles, uses: source.candles, with: {timeframe: 1m}}
  - id: quote
    uses: planner.market_maker
    with: {mid: candles.close, spread_bps: 3, order_size: 0.5, max_inventory: 5, post_only: true}
  - {id: stack, uses: planner.dca, with: {amount: 500, interval: 5m, symbol: ETH/USDC}}
  - {id: exec, uses: executor.paper, with: {fee_bps: 4, maker_fee_bps: 1}}
"""


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def held(db: Path, run_id: str) -> dict[str, float]:
    rows = query(
        db,
        "SELECT symbol, quantity FROM positions p WHERE run_id = ? AND t = "
        "(SELECT MAX(t) FROM positions q WHERE q.run_id = p.run_id AND q.symbol = p.symbol)",
        run_id,
    )
    return {str(s): float(q) for s, q in rows}  # type: ignore[arg-type]


def wait_for(condition, seconds: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except sqlite3.OperationalError:
            pass  # the store is still being created
        time.sleep(0.2)
    raise AssertionError("timed out")


@contextmanager
def running(tmp_path: Path, db: Path) -> Iterator[None]:
    """The two-book bot paper-trading three thousand real minutes at 50 a second, stopped with Ctrl-C after."""
    btc = real_candles(tmp_path, 3_000)
    eth = real_candles(tmp_path, 3_000, name="ETHUSDT-1m.csv.gz")
    bot = tmp_path / "two_books.yaml"
    bot.write_text(BOT)
    replay = ["--replay", f"BTC/USDC:USDC={btc}", "--replay", f"ETH/USDC={eth}"]
    paper = subprocess.Popen(
        [RUNNER, "run", str(bot), *replay, "--speed", "3000", "--quiet", "--db", str(db)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield
    finally:
        paper.send_signal(signal.SIGINT)
        paper.communicate(timeout=60)


def test_kill_flattens_a_running_paper_bot_from_another_process(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with running(tmp_path, db):
        wait_for(lambda: db.exists() and query(db, "SELECT COUNT(*) FROM runs") == [(1,)])
        ((run_id,),) = query(db, "SELECT id FROM runs")
        # holding both a perp and spot, with quotes resting on the book
        wait_for(lambda: all(abs(q) > 0 for q in held(db, run_id).values()) and len(held(db, run_id)) == 2)
        assert query(db, "SELECT COUNT(*) FROM orders WHERE run_id = ? AND status = 'open'", run_id)[0][0] > 0
        kill = subprocess.run([RUNNER, "kill", "two_books", "--liquidate-spot", "--db", str(db)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert kill.returncode == 0 and "1 running run(s)" in kill.stdout
        wait_for(lambda: query(db, "SELECT COUNT(*) FROM events WHERE run_id = ? AND kind = 'kill'", run_id)[0][0] >= 2)
        wait_for(lambda: all(q == 0 for q in held(db, run_id).values()))
        events = [m for (m,) in query(db, "SELECT message FROM events WHERE run_id = ? AND kind = 'kill'", run_id)]
        assert (
            events[0].startswith("kill: cancelled")
            and events[1] == "kill: closing 2 position(s); the bot stops trading"
        )
        assert query(db, "SELECT COUNT(*) FROM orders WHERE run_id = ? AND status = 'open'", run_id) == [(0,)]
        (killed_at,) = query(db, "SELECT taken_t FROM controls WHERE command = 'kill'")[0]
        later = query(
            db, "SELECT COUNT(*) FROM intents WHERE run_id = ? AND t > ? AND step_id != 'operator'", run_id, killed_at
        )
        assert later == [(0,)]  # the planners never ran again
        # a second kill changes nothing
        subprocess.run([RUNNER, "kill", "two_books", "--db", str(db)], capture_output=True, timeout=30, check=True)
        wait_for(
            lambda: any(
                "already killed" in str(m) for (m,) in query(db, "SELECT message FROM events WHERE kind = 'kill'")
            )
        )
        assert all(q == 0 for q in held(db, run_id).values())


def test_pause_stops_the_planners_until_resume(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with running(tmp_path, db):
        wait_for(lambda: query(db, "SELECT COUNT(*) FROM intents") != [(0,)])
        subprocess.run([RUNNER, "pause", "two_books", "--db", str(db)], capture_output=True, timeout=30, check=True)
        wait_for(lambda: query(db, "SELECT taken_t FROM controls WHERE command = 'pause'") not in ([], [(None,)]))
        ((paused_at,),) = query(db, "SELECT taken_t FROM controls WHERE command = 'pause'")
        time.sleep(2)  # a hundred cycles pass
        subprocess.run([RUNNER, "resume", "two_books", "--db", str(db)], capture_output=True, timeout=30, check=True)
        wait_for(lambda: query(db, "SELECT taken_t FROM controls WHERE command = 'resume'") not in ([], [(None,)]))
        ((resumed_at,),) = query(db, "SELECT taken_t FROM controls WHERE command = 'resume'")
        assert resumed_at > paused_at + 10 * 60_000
        quiet = query(db, "SELECT COUNT(*) FROM intents WHERE t >= ? AND t < ?", paused_at, resumed_at)
        assert quiet == [(0,)]
        wait_for(lambda: query(db, "SELECT COUNT(*) FROM intents WHERE t >= ?", resumed_at) != [(0,)])


def test_commands_name_an_unknown_bot(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    done = subprocess.run([RUNNER, "pause", "ghost", "--db", str(db)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "no bot 'ghost'" in done.stderr
