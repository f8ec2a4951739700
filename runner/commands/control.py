"""``runner pause|resume|kill BOT``: operator commands, delivered through the store to every run of the bot."""

from __future__ import annotations

import argparse
import sys

from runner.store import Store


def command(args: argparse.Namespace, name: str) -> int:
    from runner import controls

    store = Store(args.db)
    try:
        known = store.one("SELECT 1 AS yes FROM deployments WHERE bot = ? LIMIT 1", (args.bot,))
        if known is None:
            print(f"runner {name}: no bot '{args.bot}' in {store.path} (see `runner runs`)", file=sys.stderr)
            return 1
        extra = {"liquidate_spot": True} if getattr(args, "liquidate_spot", False) else {}
        control_id = controls.send(store, args.bot, name, **extra)  # type: ignore[arg-type]
        running = store.rows(
            "SELECT r.id FROM runs r JOIN deployments d ON d.id = r.deployment_id "
            "WHERE d.bot = ? AND r.status = 'running' AND r.kind != 'backtest'",
            (args.bot,),
        )
    finally:
        store.close()
    where = (
        f"{len(running)} running run(s) take it at their next cycle: {', '.join(r['id'] for r in running)}"
        if running
        else "no run is going now: the next start takes it"
    )
    print(f"{name} #{control_id} for {args.bot}: {where}")
    return 0
