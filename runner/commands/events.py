"""``runner events BOT``: what happened to a bot's latest run (or ``--run``) besides its trades: breaker trips,
halts, kills, pauses, failed steps, retries, skipped ticks, liquidations, resumes; one line each."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runner.cliutil import fmt_time
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    store = Store(args.db)
    try:
        run_row = _run(store, args.bot, args.run)
        if run_row is None:
            print(f"runner events: no run of '{args.bot}' in {store.path} (see `runner runs`)", file=sys.stderr)
            return 1
        kinds = args.kind or []
        where = f" AND kind IN ({', '.join('?' * len(kinds))})" if kinds else ""
        events = store.rows(
            f"SELECT t, kind, message FROM events WHERE run_id = ?{where} ORDER BY id", (run_row["id"], *kinds)
        )
        failed = store.one("SELECT COUNT(*) AS n FROM cycles WHERE run_id = ? AND status = 'failed'", (run_row["id"],))
    finally:
        store.close()
    shown = events[-args.limit :] if args.limit else events
    if args.format == "json":
        print(json.dumps({"run_id": run_row["id"], "status": run_row["status"], "events": shown}))
        return 0
    failures = failed["n"] if failed else 0
    print(
        f"{args.bot}: run {run_row['id']} ({run_row['kind']}, {run_row['status']}), {len(events)} event(s), "
        f"{failures} failed cycle(s)" + (f"; the last {len(shown)}" if len(shown) < len(events) else "")
    )
    for event in shown:
        when = fmt_time(event["t"]) if event["t"] is not None else "-"
        print(f"{when}  {event['kind']:<12} {event['message']}")
    return 0


def _run(store: Store, bot: str, run_id: str | None) -> dict[str, Any] | None:
    select = "SELECT r.id, r.kind, r.status FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE d.bot = ?"
    if run_id:
        return store.one(f"{select} AND substr(r.id, 1, ?) = ?", (bot, len(run_id), run_id))
    return store.one(f"{select} ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1", (bot,))
