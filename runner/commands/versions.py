"""``runner versions BOT``: every deployed version of a bot, with its config and runs."""

from __future__ import annotations

import argparse
import sys

from runner.cliutil import table
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    store = Store(args.db)
    rows = store.rows(
        "SELECT d.version, d.config_id, d.created_at, COUNT(r.id) AS runs, "
        "SUM(r.kind = 'backtest') AS backtests, SUM(r.kind = 'paper') AS papers, SUM(r.kind = 'live') AS lives "
        "FROM deployments d LEFT JOIN runs r ON r.deployment_id = d.id WHERE d.bot = ? "
        "GROUP BY d.id ORDER BY d.created_at, d.version",
        (args.bot,),
    )
    store.close()
    if not rows:
        print(f"runner versions: no deployment of '{args.bot}' yet (it is deployed on its first run)", file=sys.stderr)
        return 1
    print(
        table(
            ["version", "config", "deployed", "runs", "backtest", "paper", "live"],
            [
                [
                    r["version"],
                    r["config_id"][:12],
                    r["created_at"],
                    str(r["runs"]),
                    str(r["backtests"] or 0),
                    str(r["papers"] or 0),
                    str(r["lives"] or 0),
                ]
                for r in rows
            ],
        )
    )
    return 0
