"""``runner leaderboard``: deployments ranked by their latest finished run, separately per run kind."""

from __future__ import annotations

import argparse
import json

from runner.cliutil import num, pct, table
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    store = Store(args.db)
    rows = store.rows(
        "SELECT r.deployment_id, r.kind, r.summary FROM runs r WHERE r.status = 'finished' AND r.summary IS NOT NULL "
        "AND r.rowid = (SELECT MAX(x.rowid) FROM runs x WHERE x.deployment_id = r.deployment_id AND x.kind = r.kind "
        "AND x.status = 'finished' AND x.summary IS NOT NULL)"
    )
    store.close()
    kinds = [args.kind] if args.kind else ["backtest", "paper", "live"]
    printed = False
    for kind in kinds:
        entries = [(r["deployment_id"], json.loads(r["summary"])) for r in rows if r["kind"] == kind]
        if not entries:
            continue
        entries.sort(key=lambda e: (-(e[1].get("sharpe") or 0), -(e[1].get("return_pct") or 0)))
        body = [
            [
                str(i),
                dep,
                pct(s.get("return_pct")),
                num(s.get("sharpe")),
                num(s.get("sortino")),
                f"{s.get('max_drawdown_pct', 0):.2f}%",
                f"{s.get('win_rate_pct', 0):.1f}%",
                num(s.get("profit_factor")),
                str(s.get("trades", 0)),
            ]
            for i, (dep, s) in enumerate(entries, 1)
        ]
        print(("\n" if printed else "") + f"{kind} (latest finished run per deployment, ranked by Sharpe)")
        print(
            table(["#", "deployment", "return", "sharpe", "sortino", "max dd", "win rate", "profit f.", "trades"], body)
        )
        printed = True
    if not printed:
        print("no finished runs yet")
    return 0
