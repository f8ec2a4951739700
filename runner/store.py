"""The store: one SQLite file (WAL) through sqlite-utils, with numbered migrations.

Every row of a run carries ``run_id``; runs carry ``deployment_id``. A paper or live cycle is written in
one transaction, so a crash loses at most the cycle in flight, which the restarted run recomputes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

DEFAULT_PATH = "runner.db"

MIGRATIONS: list[str] = [
    """
    CREATE TABLE deployments (
        id TEXT PRIMARY KEY, bot TEXT NOT NULL, version TEXT NOT NULL, config_id TEXT NOT NULL,
        snapshot TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (bot, version));
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL REFERENCES deployments(id), kind TEXT NOT NULL,
        status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, data TEXT, params TEXT, summary TEXT,
        last_t INTEGER, error TEXT);
    CREATE INDEX runs_deployment ON runs(deployment_id);
    CREATE TABLE cycles (
        run_id TEXT NOT NULL, t INTEGER NOT NULL, status TEXT NOT NULL, error TEXT, bars INTEGER,
        equity REAL, cash REAL, intents INTEGER, orders INTEGER, fills INTEGER, PRIMARY KEY (run_id, t))
        WITHOUT ROWID;
    CREATE TABLE decisions (
        run_id TEXT NOT NULL, t INTEGER NOT NULL, step_id TEXT NOT NULL, note TEXT, intents INTEGER NOT NULL,
        PRIMARY KEY (run_id, t, step_id)) WITHOUT ROWID;
    CREATE TABLE intents (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, t INTEGER NOT NULL, step_id TEXT NOT NULL,
        leg INTEGER NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL, side TEXT, payload TEXT NOT NULL,
        verdicts TEXT NOT NULL, approved INTEGER NOT NULL, UNIQUE (run_id, t, step_id, leg));
    CREATE TABLE orders (
        run_id TEXT NOT NULL, client_id TEXT NOT NULL, t INTEGER NOT NULL, step_id TEXT NOT NULL,
        leg INTEGER NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL, side TEXT, order_type TEXT NOT NULL,
        price REAL, status TEXT NOT NULL, reason TEXT, PRIMARY KEY (run_id, client_id)) WITHOUT ROWID;
    CREATE TABLE fills (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, client_id TEXT NOT NULL, t INTEGER NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,
        liquidity TEXT NOT NULL, realized_pnl REAL, UNIQUE (run_id, client_id, t));
    CREATE TABLE positions (
        run_id TEXT NOT NULL, t INTEGER NOT NULL, symbol TEXT NOT NULL, quantity REAL NOT NULL,
        avg_price REAL NOT NULL, realized_pnl REAL NOT NULL, PRIMARY KEY (run_id, t, symbol)) WITHOUT ROWID;
    CREATE TABLE equity (
        run_id TEXT NOT NULL, t INTEGER NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
        PRIMARY KEY (run_id, t)) WITHOUT ROWID;
    CREATE TABLE equity_curves (
        run_id TEXT PRIMARY KEY, points INTEGER NOT NULL, encoding TEXT NOT NULL, times BLOB NOT NULL,
        values_ BLOB NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY, run_id TEXT, t INTEGER, kind TEXT NOT NULL, message TEXT NOT NULL, data TEXT);
    """,
    """
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, t INTEGER NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL,
        amount REAL NOT NULL, client_id TEXT);
    CREATE INDEX ledger_run ON ledger(run_id, t);
    """,
    """
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, t INTEGER NOT NULL, step_id TEXT NOT NULL,
        attempt INTEGER NOT NULL, model TEXT NOT NULL, prompt_hash TEXT NOT NULL, prompt_system TEXT NOT NULL,
        prompt_user TEXT NOT NULL, response TEXT, plan TEXT, error TEXT, rejected TEXT, tokens_in INTEGER,
        tokens_out INTEGER, cost_usd REAL, latency_ms REAL, source TEXT NOT NULL, tries INTEGER NOT NULL,
        intents INTEGER NOT NULL, UNIQUE (run_id, t, step_id, attempt));
    CREATE TABLE llm_cache (
        model TEXT NOT NULL, prompt_hash TEXT NOT NULL, response TEXT NOT NULL, tokens_in INTEGER,
        tokens_out INTEGER, cost_usd REAL, latency_ms REAL, created_at TEXT NOT NULL,
        PRIMARY KEY (model, prompt_hash)) WITHOUT ROWID;
    """,
    """
    CREATE TABLE controls (
        id INTEGER PRIMARY KEY, bot TEXT NOT NULL, command TEXT NOT NULL, args TEXT NOT NULL,
        created_at TEXT NOT NULL, taken_by TEXT, taken_t INTEGER);
    CREATE INDEX controls_bot ON controls(bot, id);
    """,
    "ALTER TABLE llm_calls ADD COLUMN subject TEXT;",
]


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Store:
    """The runner's database."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or os.environ.get("RUNNER_DB") or DEFAULT_PATH)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._use_wal()
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def _use_wal(self) -> None:
        # WAL is a property of the file. Switching to it needs the file to itself, and SQLite may refuse at
        # once (not after the busy timeout) while another connection is creating the same new file.
        for attempt in range(100):
            try:
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                if attempt == 99:
                    raise
                time.sleep(0.05)

    def migrate(self) -> None:
        """Apply the migrations this file has not seen yet."""
        if self.conn.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
            return
        with self.transaction():  # re-read under the write lock: another process may have migrated meanwhile
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: all of it is written, or none of it."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def rows(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """The same connection through sqlite-utils (imported on first use: it costs 60 ms)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def insert(self, table: str, row: dict[str, Any], replace: bool = False) -> None:
        self.db[table].insert(row, replace=replace)  # type: ignore[union-attr]

    def insert_all(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows that all have the same keys, in one executemany."""
        if rows:
            names = tuple(rows[0])
            self.insert_rows(table, names, [tuple(row[name] for name in names) for row in rows])

    def insert_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Insert value tuples in ``columns`` order, in one executemany (fast for 10^5 rows)."""
        if rows:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            self.conn.executemany(sql, rows)

    def event(self, run_id: str | None, t: int | None, kind: str, message: str, data: Any = None) -> None:
        self.insert(
            "events",
            {
                "run_id": run_id,
                "t": t,
                "kind": kind,
                "message": message,
                "data": json.dumps(data) if data is not None else None,
            },
        )

    def close(self) -> None:
        self.conn.close()
