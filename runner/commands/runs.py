"""``runner runs [BOT]``: recent runs, newest first."""

from __future__ import annotations

import argparse
import json

from runner.cliutil import num, pct, table
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    store = Store(args.db)
    where, params = ("WHERE d.bot = ?", (args.bot, args.limit)) if args.bot else ("", (args.limit,))
    rows = store.rows(
        f"SELECT r.id, r.deployment_id, r.kind, r.status, r.started_at, r.summary FROM runs r "
        f"JOIN deployments d ON d.id = r.deployment_id {where} ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?",
        params,
    )
    store.close()
    body = []
    for r in rows:
        s = json.loads(r["summary"]) if r["summary"] else {}
        body.append(
            [
                r["id"],
                r["deployment_id"],
                r["kind"],
                r["status"],
                r["started_at"],
                str(s.get("cycles", "-")),
                str(s.get("trades", "-")),
                pct(s.get("return_pct")),
                num(s.get("sharpe")),
            ]
        )
    print(table(["run", "deployment", "kind", "status", "started", "cycles", "trades", "return", "sharpe"], body))
    return 0
